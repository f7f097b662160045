"""What tests share: processes started on loopback (`processes`), jobs driven through the
Python client (`jobs`), test datasets (`datasets`), real servers (`server_*`, also pytest
plugins for their session fixtures), `train_py` runs by hand and job rows for database tests."""
