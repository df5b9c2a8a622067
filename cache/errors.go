package cache

import (
	"errors"
	"strconv"
)

// Errors about entries a store is given or reads back. ErrCacheMiss, the
// error every caller checks for, is declared with the Store interface.
var (
	// ErrInvalidEntry is wrapped by the error from Entry.Validate, from
	// MarshalEntry and from a store's Put when the entry cannot be stored:
	// nil, a domain that is not a lower-case LDH name, or a field over its
	// size limit. It points to a bug in the caller; retrying will not help.
	ErrInvalidEntry = errors.New("cache: invalid entry")

	// ErrCorrupt is wrapped (through *CorruptError) by the error from
	// UnmarshalEntry when stored bytes are not an entry this version of
	// strictmx can read. Stores treat such data as a miss and drop it;
	// callers of a Store never see it from Get.
	ErrCorrupt = errors.New("cache: corrupt entry")
)

// ErrForeignDir is wrapped by the error from NewDir, and from the methods
// of a Dir made without NewDir, when the directory is not the store's own:
// it has no DirMarker file and holds something that is not an entry of
// this package (the cache of another MTA, say, which may also name its
// files after domains). A Dir never deletes, replaces or adds a file in
// such a directory. Give the Dir a directory of its own: a new or empty one.
var ErrForeignDir = errors.New("cache: directory is not a strictmx cache")

// CorruptError describes stored bytes that UnmarshalEntry refused. It
// unwraps to ErrCorrupt.
type CorruptError struct {
	// Version is the encoding version byte found, or 0 when the data was
	// too short to have one.
	Version byte
	// Reason says what was wrong, in a few words.
	Reason string
}

func (e *CorruptError) Error() string {
	return "cache: corrupt entry (encoding version " + strconv.Itoa(int(e.Version)) + "): " + e.Reason
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
