//! Reading a model out of read-only file-backed memory (the blob embedded in the binary, a
//! memory-mapped file) and handing its pages back to the kernel as they are consumed.
//!
//! The embedded blob lives in the binary's read-only data: every page the NNEF reader
//! touches stays in the process's resident set for the rest of its life, although the blob
//! is never read again once its tensors are parsed. For Inception-v3 that is 21 MiB on top of
//! the 24 MiB of packed weights. [`ReleasingReader`] drops each page from the process once it
//! has been read (`madvise(MADV_DONTNEED)`), so the blob and its parsed tensors are never
//! resident together.
//!
//! Only pages inside one private or shared mapping that is backed by a file and not
//! writable are released, checked in `/proc/self/maps`: dropping such a page only unmaps it
//! from this process, and a later read faults the same bytes back in from the file. Memory
//! from the heap or any other anonymous mapping is never touched (dropping it would zero it).

use std::io::Read;

/// Release pages in steps of at least this many bytes (fewer system calls).
const STEP: usize = 1 << 20;

/// A [`Read`] over a byte slice that releases the pages it has read when the slice lies in
/// read-only file-backed memory.
pub(crate) struct ReleasingReader<'a> {
    rest: &'a [u8],
    /// The page-aligned address range that may be released, empty when nothing may be.
    releasable: std::ops::Range<usize>,
    /// Where the next release starts.
    released_to: usize,
    page: usize,
}

impl<'a> ReleasingReader<'a> {
    /// A reader over `bytes`; it releases pages only if `bytes` lies in a read-only
    /// file-backed mapping of this process.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let (releasable, page) = match releasable_range(bytes) {
            Some((r, page)) => (r, page),
            None => (0..0, 1),
        };
        ReleasingReader {
            rest: bytes,
            released_to: releasable.start,
            releasable,
            page,
        }
    }

    /// Bytes released so far.
    pub(crate) fn released(&self) -> usize {
        self.released_to - self.releasable.start
    }

    /// Releases every whole page read so far; `all` releases the rest of the range too (the
    /// reader is done with the slice).
    pub(crate) fn release(&mut self, all: bool) {
        let read_to = self.rest.as_ptr() as usize;
        let upto = if all {
            self.releasable.end
        } else {
            (read_to & !(self.page - 1)).min(self.releasable.end)
        };
        if upto > self.released_to && drop_pages(self.released_to, upto - self.released_to) {
            self.released_to = upto;
        }
    }
}

impl Read for ReleasingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rest.read(buf)?;
        if self.rest.as_ptr() as usize >= self.released_to + STEP {
            self.release(false);
        }
        Ok(n)
    }
}

/// The whole pages of `bytes` that lie in one read-only file-backed mapping, and the page size.
#[cfg(target_os = "linux")]
fn releasable_range(bytes: &[u8]) -> Option<(std::ops::Range<usize>, usize)> {
    // SAFETY: `sysconf` only reads a system constant.
    #[allow(unsafe_code)]
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = usize::try_from(page).ok().filter(|p| p.is_power_of_two())?;
    let start = (bytes.as_ptr() as usize).checked_add(page - 1)? & !(page - 1);
    let end = (bytes.as_ptr() as usize + bytes.len()) & !(page - 1);
    if end <= start {
        return None;
    }
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .find_map(|line| file_backed_read_only(line).filter(|r| r.start <= start && end <= r.end))
        .map(|_| (start..end, page))
}

#[cfg(not(target_os = "linux"))]
fn releasable_range(_: &[u8]) -> Option<(std::ops::Range<usize>, usize)> {
    None
}

/// The address range of a `/proc/self/maps` line if it maps a file without write access.
fn file_backed_read_only(line: &str) -> Option<std::ops::Range<usize>> {
    let mut fields = line.split_ascii_whitespace();
    let (range, perms, _offset, _dev, inode) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let (from, to) = range.split_once('-')?;
    let range = usize::from_str_radix(from, 16).ok()?..usize::from_str_radix(to, 16).ok()?;
    let read_only = perms.starts_with('r') && perms.as_bytes().get(1) == Some(&b'-');
    let file = inode != "0" && fields.next().is_some_and(|p| p.starts_with('/'));
    (read_only && file).then_some(range)
}

/// Drops `len` bytes of pages from `addr` out of this process; true if the kernel did.
#[cfg(target_os = "linux")]
fn drop_pages(addr: usize, len: usize) -> bool {
    // SAFETY: [addr, addr + len) is page-aligned and lies inside a mapping that
    // `releasable_range` found backed by a file and not writable, so none of its pages can
    // hold data of their own: MADV_DONTNEED unmaps them, and the next read of any byte
    // faults in the same bytes from the file. The memory stays mapped and readable, so the
    // borrowed slice over it never sees a change.
    #[allow(unsafe_code)]
    let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    r == 0
}

#[cfg(not(target_os = "linux"))]
fn drop_pages(_: usize, _: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_file_mapping_line_gives_its_range() {
        let l = "5586c1db4000-5586c3757000 r--p 00000000 fe:00 5311982    /usr/bin/incept";
        assert_eq!(
            file_backed_read_only(l),
            Some(0x5586c1db4000..0x5586c3757000)
        );
    }

    #[test]
    fn writable_anonymous_and_special_mappings_give_nothing() {
        for l in [
            "5586c1db4000-5586c3757000 rw-p 00000000 fe:00 5311982    /usr/bin/incept",
            "5586ede85000-5586f07bc000 rw-p 00000000 00:00 0          [heap]",
            "7ff572855000-7ff5729d0000 r--p 00000000 00:00 0 ",
            "7ffd5b1e0000-7ffd5b1e2000 r--p 00000000 00:00 0          [vvar]",
            "garbage",
        ] {
            assert_eq!(file_backed_read_only(l), None, "{l}");
        }
    }

    #[test]
    fn heap_memory_is_read_but_never_released() {
        let bytes: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let mut r = ReleasingReader::new(&bytes);
        let mut copy = Vec::new();
        r.read_to_end(&mut copy).unwrap();
        r.release(true);
        assert_eq!(r.released(), 0);
        assert_eq!(copy, bytes);
        assert!(bytes.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    }

    /// Resident kB of the mapping that starts at `addr`, from `/proc/self/smaps`.
    fn resident_kib(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let start = format!("{addr:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
        lines.next()?;
        lines
            .find_map(|l| l.strip_prefix("Rss:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_read_only_file_mapping_is_released_as_it_is_read_and_still_reads_the_same() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let len = 6 << 20;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        // SAFETY: a fresh read-only private mapping of a file this test owns; it is unmapped
        // below, after the last use of the slice made from it.
        #[allow(unsafe_code)]
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: `ptr` maps `len` readable bytes until the munmap below.
        #[allow(unsafe_code)]
        let mapped = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };

        let mut reader = ReleasingReader::new(mapped);
        let mut copy = Vec::new();
        reader.read_to_end(&mut copy).unwrap();
        let before = resident_kib(ptr as usize);
        reader.release(true);
        assert_eq!(
            reader.released(),
            len,
            "a page-aligned mapping is released whole"
        );
        let after = resident_kib(ptr as usize);
        assert_eq!(copy, data);
        // qemu-user's emulated smaps reports no residency (always 0 kB): there, only the
        // byte-level checks above and below apply
        if let (Some(before), Some(after)) = (before, after) {
            if before > 0 {
                assert!(
                    before >= (len as u64 >> 10) / 2,
                    "read pages are resident: {before} kB"
                );
                assert!(
                    after < before / 8,
                    "{before} kB resident before, {after} kB after"
                );
            }
        }
        assert_eq!(mapped, &data[..], "released pages read back from the file");
        // SAFETY: the mapping made above; `mapped` is not used after this.
        #[allow(unsafe_code)]
        let r = unsafe { libc::munmap(ptr, len) };
        assert_eq!(r, 0);
    }
}
