"""The colours every panel gives its warnings, so that a problem reads the same wherever it is said."""

WARNING_STYLE = "color: #ff9a8a;"
