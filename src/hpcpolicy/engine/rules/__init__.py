"""One module per concern; each rule returns the violations it finds and never stops at the first."""
