//! Segment files: the append-only, length-prefixed, CRC-checked record format of the
//! spool (see the format section in [`super`]), with the scan that validates a file on
//! start-up and the reader that serves records to the shipper.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// First bytes of every segment file: format name and version.
pub const MAGIC: &[u8; 8] = b"HBSPOOL1";
/// Bytes before a record's body: `len u32 | crc u32 | id u64 | created_ms i64`.
pub const RECORD_HEADER: usize = 24;
/// A length above this is not a record we could have written: the file is corrupt
/// there. It also bounds what one read allocates.
pub const MAX_BODY: u32 = 64 << 20;
/// File name suffix of a segment.
pub const SUFFIX: &str = ".seg";

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub id: u64,
    pub created_ms: i64,
    pub body: Vec<u8>,
}

/// The file name of the segment whose first record is `first_id`.
pub fn file_name(first_id: u64) -> String {
    format!("{first_id:020}{SUFFIX}")
}

/// The first record id encoded in a segment file name, if it is one.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes one record (header and body) ready to append.
pub fn encode(id: u64, created_ms: i64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + body.len());
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&created_ms.to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32c(&out[8..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

/// What a scan found in one segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Length of the valid prefix (magic and whole, checksummed records).
    pub valid_len: u64,
    /// Actual file length; more than `valid_len` means a torn or corrupt tail.
    pub file_len: u64,
    pub first_id: Option<u64>,
    pub last_id: Option<u64>,
    pub records: u64,
    /// The magic itself is missing or wrong (a torn creation or a foreign file).
    pub bad_magic: bool,
}

/// Validates every record of `path`, stopping at the first one that is incomplete,
/// fails its checksum or breaks the increasing-id rule; ids must exceed `after`.
pub fn scan(path: &Path, after: u64) -> io::Result<Scan> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let file_len = data.len() as u64;
    let mut scan = Scan {
        valid_len: 0,
        file_len,
        first_id: None,
        last_id: None,
        records: 0,
        bad_magic: false,
    };
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        scan.bad_magic = true;
        return Ok(scan);
    }
    let mut pos = MAGIC.len();
    let mut prev = after;
    while let Some((header, body_end)) = parse_at(&data, pos) {
        if header.id <= prev {
            break;
        }
        prev = header.id;
        scan.first_id.get_or_insert(header.id);
        scan.last_id = Some(header.id);
        scan.records += 1;
        pos = body_end;
    }
    scan.valid_len = pos as u64;
    Ok(scan)
}

struct Header {
    id: u64,
}

/// Parses and checks the record starting at `pos`; `None` if incomplete or corrupt.
fn parse_at(data: &[u8], pos: usize) -> Option<(Header, usize)> {
    let header = data.get(pos..pos.checked_add(RECORD_HEADER)?)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?);
    if len > MAX_BODY {
        return None;
    }
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let end = pos + RECORD_HEADER + len as usize;
    let covered = data.get(pos + 8..end)?;
    if crc32c(covered) != crc {
        return None;
    }
    Some((
        Header {
            id: u64::from_le_bytes(header[8..16].try_into().ok()?),
        },
        end,
    ))
}

/// An open segment being appended to.
#[derive(Debug)]
pub struct Writer {
    file: File,
    pub path: PathBuf,
    pub len: u64,
}

impl Writer {
    /// Creates a new segment file (magic written and synced).
    pub fn create(path: PathBuf, sync: bool) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        file.write_all(MAGIC)?;
        if sync {
            file.sync_data()?;
        }
        Ok(Self {
            file,
            path,
            len: MAGIC.len() as u64,
        })
    }

    /// Reopens an existing, already validated segment for appending at `len`.
    pub fn reopen(path: PathBuf, len: u64) -> io::Result<Self> {
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(Self { file, path, len })
    }

    /// Appends one encoded record. On failure the file is cut back to its previous
    /// length so that no partial record stays behind a later good one.
    pub fn append(&mut self, record: &[u8], sync: bool) -> io::Result<()> {
        let result =
            self.file.write_all(record).and_then(
                |()| {
                    if sync {
                        self.file.sync_data()
                    } else {
                        Ok(())
                    }
                },
            );
        match result {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(err) => {
                if let Err(cut) = self.file.set_len(self.len) {
                    tracing::warn!(path = %self.path.display(), error = %cut,
                        "cannot cut a failed append back; start-up recovery will");
                }
                Err(err)
            }
        }
    }
}

/// A known position in a segment: the record after id `id` starts at byte `offset`.
/// Reads start there instead of at the magic, so reading the unacknowledged tail of a
/// long segment costs the new records only, not every acknowledged one before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub id: u64,
    pub offset: u64,
}

impl Cursor {
    /// Just after the magic: before every record of a segment whose ids exceed `id`.
    pub fn start(id: u64) -> Self {
        Self {
            id,
            offset: MAGIC.len() as u64,
        }
    }
}

/// What [`read_range`] found.
#[derive(Debug, Default)]
pub struct RangeRead {
    pub records: Vec<RawRecord>,
    /// Where the first record with an id above `after` starts (or the end of the
    /// records skipped), a cursor the next read with the same or a later `after` may
    /// start from. `None` when nothing was skipped beyond the starting cursor.
    pub skipped_to: Option<Cursor>,
    /// A corrupt record ended the read.
    pub corrupt: bool,
}

/// Reads the records of one segment with ids in `(after, through]`, at most `max`,
/// starting at `from` (whose id must not exceed `after`) and skipping bodies it does
/// not need. A corrupt record ends the read; records the writer appends meanwhile are
/// simply not seen.
pub fn read_range(
    path: &Path,
    from: Cursor,
    after: u64,
    through: u64,
    max: usize,
) -> io::Result<RangeRead> {
    let mut file = File::open(path)?;
    let mut out = RangeRead::default();
    if from.offset <= MAGIC.len() as u64 {
        let mut magic = [0u8; 8];
        file.read_exact(&mut magic)?;
        if &magic != MAGIC {
            out.corrupt = true;
            return Ok(out);
        }
    } else {
        file.seek(SeekFrom::Start(from.offset))?;
    }
    let mut pos = from.offset.max(MAGIC.len() as u64);
    // Headers and bodies come through one buffer: a read of the unacknowledged tail is
    // then a handful of read(2) calls rather than two per record.
    let mut file = io::BufReader::with_capacity(16 << 10, file);
    let mut header = [0u8; RECORD_HEADER];
    while out.records.len() < max {
        match file.read_exact(&mut header) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(err) => return Err(err),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let id = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        if len > MAX_BODY {
            out.corrupt = true;
            break;
        }
        let end = pos + RECORD_HEADER as u64 + u64::from(len);
        if id <= after {
            file.seek_relative(i64::from(len))?;
            pos = end;
            out.skipped_to = Some(Cursor { id, offset: pos });
            continue;
        }
        if id > through {
            break;
        }
        let mut covered = Vec::with_capacity(16 + len as usize);
        covered.extend_from_slice(&header[8..]);
        covered.resize(16 + len as usize, 0);
        match file.read_exact(&mut covered[16..]) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                out.corrupt = true;
                break;
            }
            Err(err) => return Err(err),
        }
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if crc32c(&covered) != crc {
            out.corrupt = true;
            break;
        }
        pos = end;
        out.records.push(RawRecord {
            id,
            created_ms: i64::from_le_bytes(header[16..24].try_into().unwrap_or_default()),
            body: covered.split_off(16),
        });
    }
    Ok(out)
}

/// The creation time of the first record with an id above `after`, reading headers
/// only, from `from` (whose id must not exceed `after`).
pub fn first_created_after(path: &Path, from: Cursor, after: u64) -> io::Result<Option<i64>> {
    let mut file = io::BufReader::with_capacity(4 << 10, File::open(path)?);
    file.seek(SeekFrom::Start(from.offset.max(MAGIC.len() as u64)))?;
    let mut header = [0u8; RECORD_HEADER];
    loop {
        match file.read_exact(&mut header) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(err) => return Err(err),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let id = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        if id > after {
            return Ok(Some(i64::from_le_bytes(
                header[16..24].try_into().unwrap_or_default(),
            )));
        }
        if len > MAX_BODY {
            return Ok(None);
        }
        file.seek_relative(i64::from(len))?;
    }
}

/// CRC-32C (Castagnoli), the checksum of ext4 metadata and iSCSI: better error
/// detection than CRC-32 on short bursts, and a 1 KiB table is all it takes.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0x82F6_3B78 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn file_names_round_trip_and_reject_strangers() {
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("00000000000000000042.tmp"), None);
        assert_eq!(parse_file_name("42.seg"), None);
        assert_eq!(parse_file_name("0000000000000000004x.seg"), None);
    }

    #[test]
    fn records_round_trip_and_a_flipped_bit_ends_the_scan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(file_name(1));
        let mut writer = Writer::create(path.clone(), false).expect("create");
        for id in 1..=3u64 {
            writer
                .append(&encode(id, id as i64 * 10, &[id as u8; 5]), false)
                .expect("append");
        }
        let scan = scan(&path, 0).expect("scan");
        assert_eq!(
            (scan.first_id, scan.last_id, scan.records),
            (Some(1), Some(3), 3)
        );
        assert_eq!(scan.valid_len, scan.file_len);

        let read = read_range(&path, Cursor::start(0), 1, u64::MAX, 10).expect("read");
        assert!(!read.corrupt);
        let got = read.records;
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].id, got[0].created_ms, got[0].body.clone()),
            (2, 20, vec![2; 5])
        );
        let after_first = Cursor {
            id: 1,
            offset: (MAGIC.len() + RECORD_HEADER + 5) as u64,
        };
        assert_eq!(read.skipped_to, Some(after_first));
        assert_eq!(
            first_created_after(&path, Cursor::start(0), 2).expect("hdr"),
            Some(30)
        );
        assert_eq!(
            first_created_after(&path, after_first, 2).expect("hdr"),
            Some(30)
        );
        // Starting from the cursor gives the same records as starting from the top.
        let resumed = read_range(&path, after_first, 1, u64::MAX, 10).expect("read");
        assert_eq!(resumed.records, got);
        assert_eq!(resumed.skipped_to, None, "nothing skipped past the cursor");
        let tail = read_range(&path, after_first, 2, u64::MAX, 10).expect("read");
        assert_eq!(tail.records.len(), 1);
        assert_eq!(tail.records[0].id, 3);

        let mut data = std::fs::read(&path).expect("read");
        let second_body = MAGIC.len() + (RECORD_HEADER + 5) + RECORD_HEADER;
        data[second_body] ^= 0x10;
        std::fs::write(&path, &data).expect("write");
        let scan = super::scan(&path, 0).expect("scan");
        assert_eq!(scan.records, 1, "stops at the corrupt record");
        let read = read_range(&path, Cursor::start(0), 0, u64::MAX, 10).expect("read");
        assert_eq!(read.records.len(), 1);
        assert!(read.corrupt);
    }
}
