"""What a framework's train.py builds on: its environment, reporter, storage and tracking."""
