//! The chunk codec: one series' points over one time window, packed into a few bytes.
//!
//! Pure functions, no I/O; the compactor stores the bytes and the read path decodes them.
//!
//! Layout (version 1), all integers LEB128 varints, signed ones zig-zagged:
//! ```text
//! header   u8     0x10 | flags (bit 0: the rest is one zstd frame)
//! count    varint number of points (after normalisation)
//! ts       first ts, first delta, then count-2 delta-of-deltas as an int stream
//! values   u8 tag, then the codec's body:
//!          0 decimal: u8 digits d, u8 order (1|2), first scaled integer, [first delta,]
//!            then the deltas (order 1) or delta-of-deltas (order 2) as an int stream
//!          1 gorilla: Facebook's XOR bit stream over the IEEE-754 bits
//! ```
//! An *int stream* is a run-length encoding: each token is `zigzag(v) << 1 | run`, and a
//! run bit is followed by `len - 2`. Aligned timestamps are a single token ("0, n-2
//! times"), and so are counters that do not move, which is most of hardware telemetry.
//!
//! Policies, tested below as properties:
//! - Points are sorted by timestamp before encoding; of several points with the same
//!   timestamp the *last one given* wins (a re-sent sample replaces the earlier one).
//! - Values round-trip bit for bit, NaN payloads, infinities and `-0.0` included. The
//!   decimal codec is used only when it reproduces every value's exact bits, otherwise
//!   Gorilla (which is lossless for any bits) is.
//! - The encoder tries every applicable value codec and keeps the smallest, then keeps
//!   the zstd pass only where it makes the chunk smaller. BENCHMARKS.md records how often
//!   each wins on simulated fleet data and what `pco` would give instead.

use harbinger_shared::Point;

/// Version nibble of the header byte.
const VERSION: u8 = 0x10;
const FLAG_ZSTD: u8 = 0x01;
const TAG_DECIMAL: u8 = 0;
const TAG_GORILLA: u8 = 1;
/// Sensor and counter values are reported with few digits; beyond this many decimals
/// the scaled integers are as wide as the XOR stream and the search is not worth it.
const MAX_DIGITS: u8 = 9;
/// Integers beyond 2^53 are not all representable as f64, so scaling cannot be exact.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
/// The most points one chunk may claim; a damaged count cannot make the decoder
/// allocate more than this.
pub const MAX_POINTS: usize = 1 << 20;
/// zstd level of the optional pass: measured as the knee of size against CPU on
/// simulated chunks (higher levels gain under 1 % on payloads this small).
const ZSTD_LEVEL: i32 = 9;

/// Why bytes are not a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("chunk is empty")]
    Empty,
    #[error("unknown chunk header byte {0:#04x}")]
    Header(u8),
    #[error("chunk ends inside {0}")]
    Truncated(&'static str),
    #[error("chunk claims {0} points, more than the limit")]
    TooManyPoints(u64),
    #[error("unknown value codec tag {0}")]
    ValueTag(u8),
    #[error("chunk has invalid {0}")]
    Invalid(&'static str),
    #[error("chunk's zstd frame does not decompress: {0}")]
    Zstd(String),
    #[error("{0} bytes left over after the last point")]
    Trailing(usize),
}

/// The value codec a chunk uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueCodec {
    /// Values scaled by 10^digits to integers, delta (order 1) or delta-of-delta (order 2).
    Decimal {
        digits: u8,
        order: u8,
    },
    Gorilla,
}

/// What [`encode_with`] may use; the default is what the compactor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    pub decimal: bool,
    pub gorilla: bool,
    /// Try the zstd pass and keep it when smaller.
    pub zstd: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            decimal: true,
            gorilla: true,
            zstd: true,
        }
    }
}

/// What a chunk holds, read from its bytes (for statistics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    pub count: usize,
    pub codec: Option<ValueCodec>,
    pub zstd: bool,
}

/// Sorts by timestamp and keeps, for each timestamp, the last point given.
pub fn normalize(points: &mut Vec<Point>) {
    // A stable sort keeps equal timestamps in input order, so "last wins" is the last
    // of each run.
    points.sort_by_key(|p| p.ts);
    let mut out: Vec<Point> = Vec::with_capacity(points.len());
    for p in points.drain(..) {
        match out.last_mut() {
            Some(last) if last.ts == p.ts => *last = p,
            _ => out.push(p),
        }
    }
    *points = out;
}

/// Encodes points with every codec allowed; see the module docs for the policies.
pub fn encode(points: &[Point]) -> Vec<u8> {
    encode_with(points, EncodeOptions::default())
}

/// Encodes with a restricted set of codecs (for measurements). With neither value codec
/// allowed, Gorilla is used, since it is the one that takes any value.
pub fn encode_with(points: &[Point], options: EncodeOptions) -> Vec<u8> {
    let mut sorted = points.to_vec();
    normalize(&mut sorted);
    let mut body = Vec::with_capacity(16 + sorted.len() * 2);
    put_varint(&mut body, sorted.len() as u128);
    put_timestamps(&mut body, &sorted);
    let values: Vec<f64> = sorted.iter().map(|p| p.value).collect();
    if values.is_empty() {
        return finish(body, options.zstd);
    }
    let mut best: Option<Vec<u8>> = None;
    if options.decimal {
        if let Some(digits) = decimal_digits(&values) {
            for order in [1, 2] {
                let mut candidate = vec![TAG_DECIMAL];
                put_decimal(&mut candidate, &values, digits, order);
                keep_smaller(&mut best, candidate);
            }
        }
    }
    if options.gorilla || best.is_none() {
        let mut candidate = vec![TAG_GORILLA];
        put_gorilla(&mut candidate, &values);
        keep_smaller(&mut best, candidate);
    }
    body.extend_from_slice(&best.unwrap_or_default());
    finish(body, options.zstd)
}

/// Prefixes the header and applies the zstd pass when it pays.
fn finish(body: Vec<u8>, try_zstd: bool) -> Vec<u8> {
    let mut plain = Vec::with_capacity(body.len() + 1);
    plain.push(VERSION);
    plain.extend_from_slice(&body);
    if try_zstd {
        // Compressing a Vec in memory cannot fail; if it ever did, the plain chunk is
        // still a correct answer.
        if let Ok(packed) = zstd::bulk::compress(&body, ZSTD_LEVEL) {
            if packed.len() + 1 < plain.len() {
                let mut out = Vec::with_capacity(packed.len() + 1);
                out.push(VERSION | FLAG_ZSTD);
                out.extend_from_slice(&packed);
                return out;
            }
        }
    }
    plain
}

fn keep_smaller(best: &mut Option<Vec<u8>>, candidate: Vec<u8>) {
    if best.as_ref().is_none_or(|b| candidate.len() < b.len()) {
        *best = Some(candidate);
    }
}

/// Decodes a chunk into its points, sorted by timestamp with unique timestamps.
pub fn decode(bytes: &[u8]) -> Result<Vec<Point>, ChunkError> {
    let (body, _) = unwrap_body(bytes)?;
    let mut r = Reader::new(&body);
    let count = r.varint("point count")?;
    if count > MAX_POINTS as u128 {
        return Err(ChunkError::TooManyPoints(
            u64::try_from(count).unwrap_or(u64::MAX),
        ));
    }
    let count = count as usize;
    let ts = read_timestamps(&mut r, count)?;
    let values = if count == 0 {
        Vec::new()
    } else {
        match r.byte("value tag")? {
            TAG_DECIMAL => read_decimal(&mut r, count)?,
            TAG_GORILLA => read_gorilla(&mut r, count)?,
            tag => return Err(ChunkError::ValueTag(tag)),
        }
    };
    if r.remaining() > 0 {
        return Err(ChunkError::Trailing(r.remaining()));
    }
    Ok(ts
        .into_iter()
        .zip(values)
        .map(|(ts, value)| Point { ts, value })
        .collect())
}

/// Decodes only the points with `from_ms <= ts < to_ms`.
pub fn decode_range(bytes: &[u8], from_ms: i64, to_ms: i64) -> Result<Vec<Point>, ChunkError> {
    let mut points = decode(bytes)?;
    points.retain(|p| p.ts >= from_ms && p.ts < to_ms);
    Ok(points)
}

/// Reads the header and value codec of a chunk without decoding its points.
pub fn info(bytes: &[u8]) -> Result<ChunkInfo, ChunkError> {
    let (body, zstd) = unwrap_body(bytes)?;
    let mut r = Reader::new(&body);
    let count = r.varint("point count")?;
    if count > MAX_POINTS as u128 {
        return Err(ChunkError::TooManyPoints(
            u64::try_from(count).unwrap_or(u64::MAX),
        ));
    }
    let count = count as usize;
    read_timestamps(&mut r, count)?;
    let codec = if count == 0 {
        None
    } else {
        Some(match r.byte("value tag")? {
            TAG_DECIMAL => ValueCodec::Decimal {
                digits: r.byte("decimal digits")?,
                order: r.byte("decimal order")?,
            },
            TAG_GORILLA => ValueCodec::Gorilla,
            tag => return Err(ChunkError::ValueTag(tag)),
        })
    };
    Ok(ChunkInfo { count, codec, zstd })
}

fn unwrap_body(bytes: &[u8]) -> Result<(std::borrow::Cow<'_, [u8]>, bool), ChunkError> {
    let (&header, rest) = bytes.split_first().ok_or(ChunkError::Empty)?;
    match header {
        VERSION => Ok((std::borrow::Cow::Borrowed(rest), false)),
        h if h == VERSION | FLAG_ZSTD => {
            // Timestamps and values of MAX_POINTS points take at most ~30 bytes each.
            let cap = MAX_POINTS * 32;
            let body =
                zstd::bulk::decompress(rest, cap).map_err(|e| ChunkError::Zstd(e.to_string()))?;
            Ok((std::borrow::Cow::Owned(body), true))
        }
        h => Err(ChunkError::Header(h)),
    }
}

// ---- timestamps ---------------------------------------------------------------------

fn put_timestamps(out: &mut Vec<u8>, points: &[Point]) {
    let Some(first) = points.first() else {
        return;
    };
    put_varint(out, zigzag(first.ts) as u128);
    if points.len() < 2 {
        return;
    }
    let d1 = points[1].ts.wrapping_sub(first.ts);
    put_varint(out, zigzag(d1) as u128);
    let dods = points.windows(3).map(|w| {
        let a = w[1].ts.wrapping_sub(w[0].ts);
        let b = w[2].ts.wrapping_sub(w[1].ts);
        b.wrapping_sub(a)
    });
    put_int_stream(out, dods);
}

fn read_timestamps(r: &mut Reader<'_>, count: usize) -> Result<Vec<i64>, ChunkError> {
    let mut ts = Vec::with_capacity(count);
    if count == 0 {
        return Ok(ts);
    }
    let first = unzigzag(r.varint_u64("first timestamp")?);
    ts.push(first);
    if count == 1 {
        return Ok(ts);
    }
    let mut delta = unzigzag(r.varint_u64("first timestamp delta")?);
    let mut last = first.wrapping_add(delta);
    ts.push(last);
    read_int_stream(r, count - 2, "timestamp stream", |dod| {
        delta = delta.wrapping_add(dod);
        last = last.wrapping_add(delta);
        ts.push(last);
    })?;
    // Normalised input is strictly increasing; anything else was not written by us.
    if ts.windows(2).any(|w| w[1] <= w[0]) {
        return Err(ChunkError::Invalid("timestamp order"));
    }
    Ok(ts)
}

// ---- decimal values -----------------------------------------------------------------

/// The fewest decimal digits that reproduce every value's exact bits, if any up to
/// [`MAX_DIGITS`] do.
pub fn decimal_digits(values: &[f64]) -> Option<u8> {
    (0..=MAX_DIGITS).find(|&d| {
        let scale = 10f64.powi(i32::from(d));
        values.iter().all(|&v| scaled(v, scale).is_some())
    })
}

/// `v * scale` as an exact integer, when dividing it back gives exactly `v`'s bits.
fn scaled(v: f64, scale: f64) -> Option<i64> {
    if !v.is_finite() {
        return None;
    }
    let i = (v * scale).round();
    if i.abs() > MAX_EXACT {
        return None;
    }
    // Checked through the integer, as the decoder will compute it, so that `-0.0`
    // (which scales to the integer 0, decoded as `+0.0`) is refused.
    let i = i as i64;
    ((i as f64 / scale).to_bits() == v.to_bits()).then_some(i)
}

fn put_decimal(out: &mut Vec<u8>, values: &[f64], digits: u8, order: u8) {
    let scale = 10f64.powi(i32::from(digits));
    // decimal_digits checked every value at this scale.
    let ints: Vec<i64> = values
        .iter()
        .map(|&v| scaled(v, scale).unwrap_or_default())
        .collect();
    out.push(digits);
    out.push(order);
    put_varint(out, zigzag(ints[0]) as u128);
    let deltas: Vec<i64> = ints.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    if order == 1 {
        put_int_stream(out, deltas.iter().copied());
    } else if let Some(&first) = deltas.first() {
        put_varint(out, zigzag(first) as u128);
        put_int_stream(out, deltas.windows(2).map(|w| w[1].wrapping_sub(w[0])));
    }
}

fn read_decimal(r: &mut Reader<'_>, count: usize) -> Result<Vec<f64>, ChunkError> {
    let digits = r.byte("decimal digits")?;
    let order = r.byte("decimal order")?;
    if digits > MAX_DIGITS {
        return Err(ChunkError::Invalid("decimal digits"));
    }
    let scale = 10f64.powi(i32::from(digits));
    let mut out = Vec::with_capacity(count);
    let mut last = unzigzag(r.varint_u64("first scaled value")?);
    out.push(last as f64 / scale);
    match order {
        1 => read_int_stream(r, count - 1, "decimal deltas", |d| {
            last = last.wrapping_add(d);
            out.push(last as f64 / scale);
        })?,
        2 if count > 1 => {
            let mut delta = unzigzag(r.varint_u64("first scaled delta")?);
            last = last.wrapping_add(delta);
            out.push(last as f64 / scale);
            read_int_stream(r, count - 2, "decimal delta-of-deltas", |dod| {
                delta = delta.wrapping_add(dod);
                last = last.wrapping_add(delta);
                out.push(last as f64 / scale);
            })?;
        }
        2 => {}
        _ => return Err(ChunkError::Invalid("decimal order")),
    }
    Ok(out)
}

// ---- Gorilla XOR ----------------------------------------------------------------------

fn put_gorilla(out: &mut Vec<u8>, values: &[f64]) {
    let mut w = BitWriter::default();
    let Some(&first) = values.first() else {
        return;
    };
    let mut prev = first.to_bits();
    w.put(prev, 64);
    // The "previous window": leading zeros and meaningful bit count last written.
    let (mut lead, mut len) = (u32::MAX, 0u32);
    for &v in &values[1..] {
        let bits = v.to_bits();
        let xor = bits ^ prev;
        prev = bits;
        if xor == 0 {
            w.put(0, 1);
            continue;
        }
        let l = xor.leading_zeros().min(31);
        let t = xor.trailing_zeros();
        if lead != u32::MAX && l >= lead && t >= 64 - lead - len {
            w.put(0b10, 2);
            w.put(xor >> (64 - lead - len), len);
        } else {
            lead = l;
            len = 64 - l - t;
            w.put(0b11, 2);
            w.put(u64::from(lead), 5);
            // 64 meaningful bits do not fit 6 bits; 0 stands for 64 (0 never occurs).
            w.put(u64::from(len & 63), 6);
            w.put(xor >> t, len);
        }
    }
    out.extend_from_slice(&w.finish());
}

fn read_gorilla(r: &mut Reader<'_>, count: usize) -> Result<Vec<f64>, ChunkError> {
    let mut bits = BitReader::new(r.rest());
    let mut out = Vec::with_capacity(count);
    let mut prev = bits.get(64)?;
    out.push(f64::from_bits(prev));
    let (mut lead, mut len) = (0u32, 0u32);
    for _ in 1..count {
        if bits.get(1)? == 1 {
            if bits.get(1)? == 1 {
                lead = bits.get(5)? as u32;
                len = bits.get(6)? as u32;
                if len == 0 {
                    len = 64;
                }
                if lead + len > 64 {
                    return Err(ChunkError::Invalid("gorilla window"));
                }
            } else if len == 0 {
                return Err(ChunkError::Invalid(
                    "gorilla window reuse before any window",
                ));
            }
            let meaningful = bits.get(len)?;
            prev ^= meaningful << (64 - lead - len);
        }
        out.push(f64::from_bits(prev));
    }
    // Padding of the last byte must be zero, and nothing may follow it.
    let used = bits.bytes_used();
    r.skip(used);
    if bits.get_padding()? != 0 {
        return Err(ChunkError::Invalid("gorilla padding"));
    }
    Ok(out)
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Appends the low `width` bits of `value`, most significant first.
    fn put(&mut self, value: u64, width: u32) {
        let mut width = width;
        while width > 0 {
            let take = width.min(8 - self.n % 8).min(width);
            let shift = width - take;
            let chunk = (value >> shift) & ((1u64 << take) - 1);
            self.acc = (self.acc << take) | chunk;
            self.n += take;
            width -= take;
            if self.n == 8 {
                self.bytes.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.bytes.push((self.acc << (8 - self.n)) as u8);
        }
        self.bytes
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn get(&mut self, width: u32) -> Result<u64, ChunkError> {
        let mut v = 0u64;
        for _ in 0..width {
            let byte = self
                .bytes
                .get(self.pos / 8)
                .ok_or(ChunkError::Truncated("gorilla bit stream"))?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u64::from(bit);
            self.pos += 1;
        }
        Ok(v)
    }

    fn bytes_used(&self) -> usize {
        self.pos.div_ceil(8)
    }

    /// The unread bits of the last partly read byte.
    fn get_padding(&mut self) -> Result<u64, ChunkError> {
        let pad = (8 - self.pos % 8) % 8;
        self.get(pad as u32)
    }
}

// ---- integers -------------------------------------------------------------------------

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Run-length encodes signed integers: `zigzag(v) << 1 | run` and, for runs, `len - 2`.
pub(crate) fn put_int_stream(out: &mut Vec<u8>, values: impl Iterator<Item = i64>) {
    let mut current: Option<(i64, u64)> = None;
    let flush = |out: &mut Vec<u8>, (v, n): (i64, u64)| {
        let token = u128::from(zigzag(v)) << 1;
        if n == 1 {
            put_varint(out, token);
        } else {
            put_varint(out, token | 1);
            put_varint(out, u128::from(n - 2));
        }
    };
    for v in values {
        current = match current {
            Some((c, n)) if c == v => Some((c, n + 1)),
            Some(run) => {
                flush(out, run);
                Some((v, 1))
            }
            None => Some((v, 1)),
        };
    }
    if let Some(run) = current {
        flush(out, run);
    }
}

pub(crate) fn read_int_stream(
    r: &mut Reader<'_>,
    count: usize,
    what: &'static str,
    mut each: impl FnMut(i64),
) -> Result<(), ChunkError> {
    let mut left = count;
    while left > 0 {
        let token = r.varint(what)?;
        let v = u64::try_from(token >> 1).map_err(|_| ChunkError::Invalid(what))?;
        let v = unzigzag(v);
        let n = if token & 1 == 1 {
            let extra = r.varint(what)?;
            usize::try_from(extra)
                .ok()
                .and_then(|e| e.checked_add(2))
                .ok_or(ChunkError::Invalid(what))?
        } else {
            1
        };
        if n > left {
            return Err(ChunkError::Invalid(what));
        }
        for _ in 0..n {
            each(v);
        }
        left -= n;
    }
    Ok(())
}

/// A cursor over a byte slice whose every read is bounds-checked.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, ChunkError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(ChunkError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u128, ChunkError> {
        let mut v = 0u128;
        for shift in (0..).step_by(7) {
            if shift > 126 {
                return Err(ChunkError::Invalid(what));
            }
            let b = self.byte(what)?;
            v |= u128::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        Ok(v)
    }

    pub(crate) fn varint_u64(&mut self, what: &'static str) -> Result<u64, ChunkError> {
        u64::try_from(self.varint(what)?).map_err(|_| ChunkError::Invalid(what))
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ChunkError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(ChunkError::Truncated(what))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.bytes.len());
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded generator so failures reproduce: the seed is in the assertion message.
    fn rng(seed: u64) -> fastrand::Rng {
        fastrand::Rng::with_seed(seed)
    }

    fn pts(ts: &[i64], values: &[f64]) -> Vec<Point> {
        ts.iter()
            .zip(values)
            .map(|(&ts, &value)| Point { ts, value })
            .collect()
    }

    fn same_bits(a: &[Point], b: &[Point]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.ts == y.ts && x.value.to_bits() == y.value.to_bits())
    }

    /// The property every test below instantiates: decode(encode(p)) == normalize(p),
    /// bit for bit, under every codec restriction.
    fn check(points: &[Point], seed: u64) {
        let mut expected = points.to_vec();
        normalize(&mut expected);
        for options in [
            EncodeOptions::default(),
            EncodeOptions {
                decimal: false,
                ..EncodeOptions::default()
            },
            EncodeOptions {
                gorilla: false,
                zstd: false,
                ..EncodeOptions::default()
            },
        ] {
            let bytes = encode_with(points, options);
            let back = decode(&bytes).expect("own chunk decodes");
            assert!(
                same_bits(&back, &expected),
                "seed {seed} {options:?}: {back:?} != {expected:?}"
            );
            assert_eq!(
                info(&bytes).expect("info").count,
                expected.len(),
                "seed {seed}"
            );
        }
    }

    /// Aligned or jittered timestamps with gaps, shuffled and with duplicates.
    fn timestamps(r: &mut fastrand::Rng, n: usize) -> Vec<i64> {
        let mut t = 1_700_000_000_000 + r.i64(-1_000_000..1_000_000);
        let step = [1_000, 10_000, 60_000][r.usize(..3)];
        let jitter = [0, 0, 20][r.usize(..3)];
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            // A gap (agent down) now and then.
            if r.u8(..50) == 0 {
                t += step * r.i64(2..100);
            }
            t += step;
            out.push(t + if jitter > 0 { r.i64(0..jitter) } else { 0 });
        }
        if r.bool() {
            r.shuffle(&mut out);
        }
        if r.u8(..4) == 0 && n > 2 {
            // Duplicates inside one batch, with a different value each time.
            let dup = out[r.usize(..n)];
            out.push(dup);
        }
        out
    }

    fn values(r: &mut fastrand::Rng, n: usize) -> Vec<f64> {
        match r.u8(..7) {
            // A SMART counter that rarely moves, and resets now and then.
            0 => {
                let mut v = r.u32(..1000) as f64;
                (0..n)
                    .map(|_| {
                        if r.u8(..100) == 0 {
                            v += 1.0;
                        }
                        if r.u16(..500) == 0 {
                            v = 0.0;
                        }
                        v
                    })
                    .collect()
            }
            // A temperature with one decimal and noise.
            1 => {
                let mut v = 45.0;
                (0..n)
                    .map(|_| {
                        v += r.f64() - 0.5;
                        (v * 10.0).round() / 10.0
                    })
                    .collect()
            }
            // Noisy CPU ratios with full precision.
            2 => (0..n).map(|_| r.f64()).collect(),
            // A byte counter growing fast, with a reset (counter wrap or reboot).
            3 => {
                let mut v = 1e12;
                (0..n)
                    .map(|i| {
                        v += r.u32(..1_000_000) as f64;
                        if i == n / 2 {
                            v = 0.0;
                        }
                        v
                    })
                    .collect()
            }
            // Special values: NaN payloads, infinities, signed zeros, extremes.
            4 => {
                let specials = [
                    f64::NAN,
                    f64::from_bits(0x7ff8_0000_dead_beef),
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.0,
                    0.0,
                    f64::MAX,
                    f64::MIN_POSITIVE,
                    5e-324,
                    1.0,
                ];
                (0..n)
                    .map(|_| specials[r.usize(..specials.len())])
                    .collect()
            }
            // Arbitrary bits.
            5 => (0..n).map(|_| f64::from_bits(r.u64(..))).collect(),
            // Large integers near the exactness limit of decimal scaling.
            _ => (0..n)
                .map(|_| (r.i64(-(1 << 53)..(1 << 53))) as f64)
                .collect(),
        }
    }

    #[test]
    fn random_series_round_trip() {
        for seed in 0..400 {
            let mut r = rng(seed);
            let n = [0, 1, 2, 3, 10, 360, 720][r.usize(..7)];
            let ts = timestamps(&mut r, n);
            let vs = values(&mut r, ts.len());
            check(&pts(&ts, &vs), seed);
        }
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        let ts = [i64::MIN, -1, 0, 1, i64::MAX];
        check(&pts(&ts, &[1.0, 2.0, 3.0, 4.0, 5.0]), 0);
        check(&pts(&[i64::MAX, i64::MIN], &[1.0, 2.0]), 1);
    }

    #[test]
    fn duplicates_keep_the_last_value_given() {
        let p = pts(&[20, 10, 20, 10, 30], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let back = decode(&encode(&p)).expect("decodes");
        assert!(same_bits(&back, &pts(&[10, 20, 30], &[4.0, 3.0, 5.0])));
    }

    #[test]
    fn nan_policy_keeps_exact_bits_and_never_uses_decimal() {
        let weird = f64::from_bits(0xfff0_0000_0000_0001);
        let p = pts(&[1, 2, 3], &[1.5, weird, -0.0]);
        let bytes = encode(&p);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back[1].value.to_bits(), weird.to_bits());
        assert_eq!(back[2].value.to_bits(), (-0.0f64).to_bits());
        assert_eq!(info(&bytes).expect("info").codec, Some(ValueCodec::Gorilla));
    }

    #[test]
    fn aligned_constant_series_is_a_handful_of_bytes() {
        let n = 720;
        let p: Vec<Point> = (0..n)
            .map(|i| Point {
                ts: 1_700_000_000_000 + i * 10_000,
                value: 1234.0,
            })
            .collect();
        let bytes = encode(&p);
        assert!(bytes.len() <= 24, "{} bytes", bytes.len());
        assert_eq!(
            info(&bytes).expect("info").codec,
            Some(ValueCodec::Decimal {
                digits: 0,
                order: 1
            })
        );
    }

    #[test]
    fn decimal_digits_are_the_fewest_exact_ones() {
        assert_eq!(decimal_digits(&[1.0, 2.0]), Some(0));
        assert_eq!(decimal_digits(&[45.1, 45.25]), Some(2));
        assert_eq!(decimal_digits(&[0.1 + 0.2]), None);
        assert_eq!(decimal_digits(&[f64::NAN]), None);
        assert_eq!(decimal_digits(&[-0.0]), None);
    }

    #[test]
    fn damaged_chunks_are_errors_never_panics() {
        let mut r = rng(7);
        for seed in 0..300 {
            let n = r.usize(1..200);
            let ts = timestamps(&mut r, n);
            let vs = values(&mut r, ts.len());
            let good = encode(&pts(&ts, &vs));
            // Every truncation is an error (never a shorter series).
            let cut = r.usize(..good.len());
            assert!(decode(&good[..cut]).is_err(), "seed {seed} cut {cut}");
            // A flipped byte decodes to an error or to something; it must not panic.
            let mut bad = good.clone();
            let at = r.usize(..bad.len());
            bad[at] ^= 1 << r.u8(..8);
            let _ = decode(&bad);
        }
        assert_eq!(decode(&[]), Err(ChunkError::Empty));
        assert_eq!(decode(&[0x20]), Err(ChunkError::Header(0x20)));
        // A count beyond the limit is refused before allocating.
        let mut huge = vec![VERSION];
        put_varint(&mut huge, (MAX_POINTS as u128) + 1);
        assert!(matches!(decode(&huge), Err(ChunkError::TooManyPoints(_))));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode_with(
            &pts(&[1, 2], &[1.0, 2.0]),
            EncodeOptions {
                zstd: false,
                ..EncodeOptions::default()
            },
        );
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(ChunkError::Trailing(1)));
    }

    #[test]
    fn decode_range_is_half_open() {
        let p = pts(&[10, 20, 30, 40], &[1.0, 2.0, 3.0, 4.0]);
        let got = decode_range(&encode(&p), 20, 40).expect("decodes");
        assert_eq!(got.iter().map(|p| p.ts).collect::<Vec<_>>(), vec![20, 30]);
    }
}
