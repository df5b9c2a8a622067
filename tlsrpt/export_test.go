package tlsrpt

// Update is the -update flag, for the external tests' golden files.
var Update = update
