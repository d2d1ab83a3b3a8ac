"""The commands a pre-commit hook and an editor run: check, sync, lint."""
