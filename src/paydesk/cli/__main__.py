from paydesk.cli import main

main()
