//go:build !unix

package engine

import "io/fs"

// linkCount is how many hard links fi's file has; 0 when unknown (here,
// always: the export directory's os.Root still keeps writes inside it).
func linkCount(fs.FileInfo) uint64 { return 0 }
