"""Model families, one subpackage each (recognizers/, gan/, stylegan/, ...)."""
