"""Chinese-character and mixed-script values after a password label: the password ("天王盖地虎",
"张三丰1988", "小明love520") or the rest of a sentence ("密码是什么", "密码是对的", "密码：忘了",
"密码是6位数字", "我的密码是我的生日")? Word lists, no I/O."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")
# sentence starts that are never a password (also for mixed values: "忘了123" is not one)
_PROSE_START = tuple(
    """
    什么 什麼 甚麼 多少 啥 几 哪 怎 忘 错 錯 不 没 沒 对的 對的 对吗 正确 正確 无效 無效 过期 過期
    被 已 还是 還是 一直 总是 總是 应该 應該 提示 显示 顯示 输入 輸入 修改 重置 找回 设置 設置 一样
    一樣 相同 之前 以前 原来 原來 原先 这 這 那 是否 如何 吗 嗎 呢 请 請 麻烦 麻煩 谢谢 謝謝 手机
    手機 生日 身份证 纯 純 默认 默認 初始 空 同 和 与 與 或 及 跟 对 對 有 在 都 也 就 还 還 又
    再 才 太 很 要 想 需 能 可 会 會 让 讓 把 给 給 从 從 到 用 由 于 於 跟 刚 剛
    现在 現在 今天 昨天 即 可以 需要 必须 相互 互相 独立 用于 包括 等 并 且 或者 然后 之后 以后
    成功 失败 失敗 完成 正常 异常 超时 无法 無法 有效 改好 好了 收到 发送 點擊 点击 点了 注册 註冊
    好的 好像 是 为 為 一个 一個 一些 这个 那个 多次 几次 连续 連續
    """.split()
)
# only in a sentence (pure Chinese values): particles, pronouns, negations
_PROSE_CHARS = frozenset(
    "的了吗嗎呢吧么麼啊呀嘛哦是不没沒在都也就还還和或与與被把让讓给給要会會能过過着著很太再"
    "们們"  # not 我/你: "我爱你中国" is a common password; "我的生日" goes out by 的
)
# a description of the password, not the password ("6位数字", "字母加数字")
_POLICY_WORDS = tuple("位 数字 數字 字母 字符 大写 大寫 小写 小寫 符号 次".split())
_CJK_LABELS = tuple("密码 密碼 口令 登录 登入 支付 交易 验证 驗證 账号 账户".split())


def cjk_prose(value: str, *, quoted: bool = False) -> bool:
    """True when a value containing Chinese characters reads as words of a sentence."""
    if value.startswith(_PROSE_START) or any(w in value for w in _POLICY_WORDS):
        return True
    if quoted:  # "“宝塔镇河妖”", "「春眠不觉晓」" but not "“我不记得了”"
        return sum(c in _PROSE_CHARS for c in value) >= 2
    if ASCII_ALNUM.search(value):
        return False  # quoted, or mixed scripts ("张三丰1988", "小明love520")
    return len(value) > 10 or value.startswith(_CJK_LABELS) or any(c in _PROSE_CHARS for c in value)
