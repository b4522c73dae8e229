//! Idle memory: what the daemon gives back to the system once it has been
//! quiet for a while (issue 11: the idle daemon's RSS).
//!
//! Two things stay resident after a burst of work although nothing uses
//! them: the pages glibc's allocator keeps in its arenas after they were
//! freed (a start-up with 100 accounts peaks near 10 MB of heap and idles
//! at 2.5 MB live, yet kept 8 MiB resident), and the pages of the
//! executable and its libraries that the burst touched (the kernel maps
//! them 64 KB or a whole large folio at a time, so a start-up leaves 12 MiB
//! of code and constant data mapped). [`release`] returns both:
//! `malloc_trim(0)` for the first; for the second, `madvise(MADV_DONTNEED)`
//! over the read-only file mappings that hold no private page. Such a
//! mapping only ever shows the file's bytes, so dropping its page-table
//! entries changes nothing the program can see: the next use maps the page
//! again from the page cache (or the file).
//! `MADV_PAGEOUT` would say the same more gently, but the kernel ignores it
//! for file pages of a file the process may not write, which is how the
//! service runs (`/usr/bin/snapkeeper` belongs to root).
//!
//! [`one_arena`], called first thing in `main`, keeps glibc's allocator to
//! one arena: per-thread arenas each keep their own partly used pages, and
//! a daemon that waits on the network has no allocation contention to
//! spread.
//!
//! Owns the process's only `unsafe` code: these three calls into glibc and
//! the kernel, none of which reads or writes memory through a pointer.
//!
//! Must never: advise a mapping that is writable, anonymous, shared, or
//! that holds a private page (relocated data, or a debugger's breakpoint):
//! `MADV_DONTNEED` would turn those back into the file's bytes.

use std::ops::Range;
use std::time::{Duration, Instant};

/// When to call [`release`]: once after each burst of requests, when none
/// has been sent for a while (long enough for the HTTP pool to have closed
/// the burst's connections and freed their buffers).
#[derive(Debug, Clone)]
pub struct Quiet {
    after: Duration,
    seen: u64,
    since: Instant,
    released: Option<u64>,
}

impl Quiet {
    /// Starts counting at `now` with `sent` requests so far; a release is
    /// due once nothing was sent for `after`.
    pub fn new(after: Duration, sent: u64, now: Instant) -> Self {
        Self {
            after,
            seen: sent,
            since: now,
            released: None,
        }
    }

    /// Whether to release now, given the requests sent so far: once per
    /// quiet spell (the first one too, after start-up).
    pub fn due(&mut self, sent: u64, now: Instant) -> bool {
        if sent != self.seen {
            self.seen = sent;
            self.since = now;
            return false;
        }
        if now.saturating_duration_since(self.since) < self.after || self.released == Some(sent) {
            return false;
        }
        self.released = Some(sent);
        true
    }
}

/// Keep glibc's allocator to one arena (`mallopt(M_ARENA_MAX, 1)`); call it
/// before any thread starts. Elsewhere it does nothing.
pub fn one_arena() {
    sys::one_arena();
}

/// What one [`release`] gave back, for the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// glibc's own answer: whether the trim returned any memory.
    pub trimmed: bool,
    /// Resident pages of the executable and its libraries advised out, in
    /// KiB.
    pub code_kib: u64,
    /// Why those pages were left alone, when they were.
    pub code_skipped: Option<&'static str>,
}

/// Give back the allocator's free pages, and the resident pages of the
/// executable and its libraries that hold nothing but the files' bytes.
/// Call it only when the process is quiet: the trim locks each arena in
/// turn.
pub fn release() -> Released {
    let trimmed = sys::trim();
    let (code_kib, code_skipped) = match std::fs::read_to_string("/proc/self/smaps") {
        Ok(smaps) => {
            let clean = clean_mappings(&smaps);
            let mut kib = 0;
            let mut skipped = None;
            for m in &clean {
                match sys::dont_need(m.range.clone()) {
                    Ok(()) => kib += m.rss_kib,
                    Err(_) => {
                        // The pages only stay, as they would without this.
                        skipped = Some("the kernel refused the advice");
                        break;
                    }
                }
            }
            (kib, skipped)
        }
        Err(_) => (0, Some("/proc/self/smaps is not readable")),
    };
    Released {
        trimmed,
        code_kib,
        code_skipped,
    }
}

/// One file mapping that may be advised out.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mapping {
    range: Range<u64>,
    rss_kib: u64,
}

/// The file mappings that are read-only, private, resident and hold no
/// anonymous (relocated or written) page, from the text of
/// `/proc/self/smaps`. Anything unreadable is left out, and so is a mapping
/// whose lines are not all there.
fn clean_mappings(smaps: &str) -> Vec<Mapping> {
    struct Entry<'a> {
        range: Range<u64>,
        perms: &'a str,
        inode: &'a str,
        rss_kib: Option<u64>,
        anon_kib: Option<u64>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    for line in smaps.lines() {
        if let Some(entry) = header(line) {
            entries.push(entry);
            continue;
        }
        let Some(last) = entries.last_mut() else {
            continue;
        };
        let mut kv = line.split_whitespace();
        let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
            continue;
        };
        let value = value.parse::<u64>().ok();
        match key {
            "Rss:" => last.rss_kib = value,
            "Anonymous:" => last.anon_kib = value,
            _ => {}
        }
    }
    // "start-end perms offset dev inode path": a header is the only line
    // whose first field is an address range.
    fn header(line: &str) -> Option<Entry<'_>> {
        let mut f = line.split_whitespace();
        let (start, end) = f.next()?.split_once('-')?;
        let range = u64::from_str_radix(start, 16).ok()?..u64::from_str_radix(end, 16).ok()?;
        let perms = f.next()?;
        let _offset = f.next()?;
        let _dev = f.next()?;
        let inode = f.next()?;
        // A file has a path; [vdso] and friends have inode 0.
        let _path = f.next()?;
        Some(Entry {
            range,
            perms,
            inode,
            rss_kib: None,
            anon_kib: None,
        })
    }
    entries
        .into_iter()
        .filter(|e| e.inode != "0" && matches!(e.perms, "r-xp" | "r--p"))
        .filter_map(|e| match (e.rss_kib, e.anon_kib) {
            (Some(rss), Some(0)) if rss > 0 => Some(Mapping {
                range: e.range,
                rss_kib: rss,
            }),
            _ => None,
        })
        .collect()
}

/// The two calls into glibc and the kernel.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys {
    use std::ops::Range;

    /// `malloc_trim(0)`: every arena's free pages back to the kernel.
    #[cfg(target_env = "gnu")]
    pub(super) fn trim() -> bool {
        // SAFETY: malloc_trim takes no pointer and has no precondition;
        // glibc locks each arena while it walks it.
        unsafe { libc::malloc_trim(0) == 1 }
    }

    /// `mallopt(M_ARENA_MAX, 1)`.
    #[cfg(target_env = "gnu")]
    pub(super) fn one_arena() {
        // SAFETY: mallopt takes two integers and no pointer; M_ARENA_MAX
        // only caps how many arenas glibc creates from now on.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }

    /// Other C libraries (musl) give free memory back by themselves.
    #[cfg(not(target_env = "gnu"))]
    pub(super) fn trim() -> bool {
        false
    }

    /// Other C libraries (musl) have no per-thread arenas to cap.
    #[cfg(not(target_env = "gnu"))]
    pub(super) fn one_arena() {}

    /// `madvise(MADV_DONTNEED)` over one whole read-only private file
    /// mapping without private pages (see the module's rules).
    pub(super) fn dont_need(range: Range<u64>) -> std::io::Result<()> {
        let (Ok(start), Ok(len)) = (
            usize::try_from(range.start),
            usize::try_from(range.end.saturating_sub(range.start)),
        ) else {
            return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
        };
        // SAFETY: madvise does not read or write through the pointer. The
        // range is one whole file mapping of this process, read from
        // /proc/self/smaps: page-aligned, mapped, read-only and private,
        // and without an anonymous page, so every page in it holds the
        // file's bytes and MADV_DONTNEED only drops page-table entries that
        // the next access restores with the same bytes. Nothing in
        // snapkeeper makes such a mapping writable later, and none is
        // unmapped while the process runs (snapkeeper opens no library;
        // glibc keeps the NSS modules it loads), so the range cannot have
        // become another mapping since smaps was read.
        let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// Elsewhere: nothing to call (snapkeeper runs under systemd on Linux).
#[cfg(not(target_os = "linux"))]
mod sys {
    use std::ops::Range;

    pub(super) fn trim() -> bool {
        false
    }

    pub(super) fn one_arena() {}

    pub(super) fn dont_need(_: Range<u64>) -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55e0a0000000-55e0a0532000 r--p 00000000 fe:00 5312424                    /usr/bin/snapkeeper
Size:               5320 kB
Rss:                2304 kB
Anonymous:             0 kB
55e0a0532000-55e0a11a4000 r-xp 00531000 fe:00 5312424                    /usr/bin/snapkeeper
Size:              12744 kB
Rss:                8792 kB
Anonymous:             0 kB
55e0a11a4000-55e0a1333000 r--p 011a2000 fe:00 5312424                    /usr/bin/snapkeeper
Size:               1596 kB
Rss:                1580 kB
Anonymous:          1580 kB
55e0a1333000-55e0a1340000 rw-p 01331000 fe:00 5312424                    /usr/bin/snapkeeper
Size:                 52 kB
Rss:                  52 kB
Anonymous:            52 kB
55e0a2000000-55e0a2100000 rw-p 00000000 00:00 0                          [heap]
Rss:                1504 kB
Anonymous:          1504 kB
7f6ff62b0000-7f6ff6406000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1088 kB
Anonymous:             0 kB
7f6ff6500000-7f6ff6510000 r--p 00000000 fe:00 5312424                    /usr/bin/snapkeeper
Rss:                   0 kB
Anonymous:             0 kB
7f6ff6600000-7f6ff6610000 r--s 00000000 fe:00 4242                       /var/cache/shared.db
Rss:                  64 kB
Anonymous:             0 kB
7ffd9a3f0000-7ffd9a3f2000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn a_release_is_due_once_per_quiet_spell() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // (seconds since t0, requests sent so far, due?)
        type Steps = &'static [(u64, u64, bool)];
        let cases: &[(&str, Steps)] = &[
            (
                "start-up with no request",
                &[
                    (10, 0, false),
                    (25, 0, true),
                    (30, 0, false),
                    (90, 0, false),
                ],
            ),
            (
                "a burst, then quiet",
                &[
                    (5, 200, false),
                    (10, 200, false),
                    (29, 200, false),
                    (30, 200, true),
                    (40, 200, false),
                ],
            ),
            (
                "requests keep coming: never",
                &[
                    (20, 1, false),
                    (40, 2, false),
                    (60, 3, false),
                    (80, 4, false),
                ],
            ),
            (
                "quiet, released, then a new burst: again",
                &[
                    (25, 0, true),
                    (60, 7, false),
                    (84, 7, false),
                    (85, 7, true),
                    (200, 7, false),
                ],
            ),
        ];
        for (what, steps) in cases {
            let mut q = Quiet::new(s(25), 0, t0);
            for &(at, sent, want) in *steps {
                assert_eq!(
                    q.due(sent, t0 + s(at)),
                    want,
                    "{what}: at {at} s, {sent} sent"
                );
            }
        }
    }

    #[test]
    fn only_read_only_private_file_mappings_without_private_pages() {
        let got: Vec<(Range<u64>, u64)> = clean_mappings(SMAPS)
            .into_iter()
            .map(|m| (m.range, m.rss_kib))
            .collect();
        // Not: the relocated read-only data (anonymous pages), the data,
        // the heap, a shared mapping, [vdso], or what is not resident.
        assert_eq!(
            got,
            vec![
                (0x55e0_a000_0000..0x55e0_a053_2000, 2304),
                (0x55e0_a053_2000..0x55e0_a11a_4000, 8792),
                (0x7f6f_f62b_0000..0x7f6f_f640_6000, 1088),
            ]
        );
    }

    #[test]
    fn unreadable_text_is_left_out() {
        let cases: &[(&str, &str)] = &[
            ("empty", ""),
            (
                "no Anonymous line",
                "1000-2000 r-xp 0 fe:00 7 /x\nRss: 4 kB\n",
            ),
            (
                "a bad range",
                "zz-2000 r-xp 0 fe:00 7 /x\nRss: 4 kB\nAnonymous: 0 kB\n",
            ),
            (
                "a bad number",
                "1000-2000 r-xp 0 fe:00 7 /x\nRss: many kB\nAnonymous: 0 kB\n",
            ),
            (
                "written to",
                "1000-2000 r-xp 0 fe:00 7 /x\nRss: 4 kB\nAnonymous: 4 kB\n",
            ),
            (
                "no path",
                "1000-2000 r-xp 0 fe:00 7\nRss: 4 kB\nAnonymous: 0 kB\n",
            ),
            (
                "writable",
                "1000-2000 rwxp 0 fe:00 7 /x\nRss: 4 kB\nAnonymous: 0 kB\n",
            ),
        ];
        for (what, smaps) in cases {
            assert_eq!(clean_mappings(smaps), vec![], "{what}");
        }
    }

    #[test]
    fn a_release_leaves_the_process_working() {
        // Run for real: afterwards the code, the constants and the heap
        // still hold what they held.
        let before: Vec<u64> = (0..10_000).collect();
        let released = release();
        assert_eq!(before.iter().sum::<u64>(), 49_995_000);
        assert_eq!(format!("{:?}", 1.5_f64), "1.5");
        if released.code_skipped.is_none() {
            assert!(released.code_kib > 0, "{released:?}");
        }
    }
}
