from clipwatch.cli import main

main()
