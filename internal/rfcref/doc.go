// Package rfcref holds the test that keeps RFC citations in this module pointing at sections that exist.
package rfcref
