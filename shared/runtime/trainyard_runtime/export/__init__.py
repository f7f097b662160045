"""After training: exporting a trained model and proving the exported file answers like it."""
