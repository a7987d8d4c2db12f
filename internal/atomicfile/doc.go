// Package atomicfile writes files so that a reader, or a later run after a
// crash, sees either the complete new contents or the previous file, never a
// half-written one.
//
// The data goes to a temporary file in the target's directory (on the same
// file system), which is flushed and fsynced, then renamed over the target;
// rename(2) within one file system is atomic. The directory is fsynced
// afterwards so that the rename itself survives a power loss. On any error
// the temporary file is removed and an existing file at the target path is
// left untouched.
//
// On Linux the temporary file is opened with O_TMPFILE, so it has no name
// while it is written: a process killed mid-write leaves nothing behind. Only
// at commit is it linked as "."+base+".tmp<n>" and at once renamed over the
// target. Where O_TMPFILE is not available (other systems, some file
// systems, no /proc) the temporary file is named "."+base+".tmp*" from the
// start, and a killed process leaves it behind; the next write of the same
// target in the same folder removes it. To tell a killed writer's file from
// a live one's, a writer holds an exclusive flock(2) on its temporary file
// until it is renamed (Linux, macOS, the BSDs; the kernel drops the lock
// when the process dies), or keeps it open (Windows, which refuses to delete
// a file another process has open); a later run removes only the
// "."+base+".tmp*" files it can lock (or delete) and that were last
// modified before it started. On other systems the debris stays.
//
// Setting the environment variable LSTMQ_ATOMICFILE=named (NamedEnv) makes
// every temporary file a named one, as without O_TMPFILE: the tests run the
// fallback that way on Linux.
package atomicfile
