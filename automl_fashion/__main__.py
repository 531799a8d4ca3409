from automl_fashion.cli import main

raise SystemExit(main())
