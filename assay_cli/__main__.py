from assay_cli.main import main

raise SystemExit(main())
