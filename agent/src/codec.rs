//! JSON + zstd encoding for the spool and the shipper, with the zstd contexts and the
//! JSON buffer kept from one cycle to the next.
//!
//! Why: creating a zstd context per record allocates and clears its tables every time,
//! which the callgrind profile of a 10 s cycle showed as the single largest cost (more
//! than reading /proc). A kept context is reset without clearing. The output is the same
//! kind of standard zstd frame (content size included), so nothing on disk or on the
//! wire changes. After an unusually large input (a backlog batch) the context and the
//! buffer are dropped rather than kept at that size, so the resident set does not stay
//! inflated after an outage.

use serde::Serialize;
use std::borrow::Cow;
use std::io;

/// Inputs above this are compressed with a context that is then dropped.
const KEEP_BELOW: usize = 256 << 10;

/// Serializes values to JSON and compresses them, reusing one context.
pub struct Encoder {
    level: i32,
    json: Vec<u8>,
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("level", &self.level)
            .finish()
    }
}

impl Encoder {
    /// An encoder at zstd `level`; the context is created on first use.
    pub fn new(level: i32) -> Self {
        Self {
            level,
            json: Vec::new(),
            zstd: None,
        }
    }

    /// `value` as compressed JSON, and the JSON's length.
    pub fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<(Vec<u8>, usize)> {
        self.json.clear();
        serde_json::to_writer(&mut self.json, value).map_err(io::Error::other)?;
        let json_len = self.json.len();
        let zstd = match &mut self.zstd {
            Some(zstd) => zstd,
            slot @ None => slot.insert(zstd::bulk::Compressor::new(self.level)?),
        };
        let compressed = zstd.compress(&self.json);
        if json_len > KEEP_BELOW {
            self.zstd = None;
            self.json = Vec::new();
        }
        compressed.map(|body| (body, json_len))
    }
}

/// Decompresses frames, reusing one context and one output buffer.
pub struct Decoder {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    out: Vec<u8>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self {
            zstd: None,
            out: Vec::new(),
        }
    }

    /// The decompressed content of one frame. Frames without a content size in their
    /// header (not written by this agent, but valid zstd) take the streaming path.
    pub fn decode(&mut self, frame: &[u8]) -> io::Result<Cow<'_, [u8]>> {
        let size = match zstd::zstd_safe::get_frame_content_size(frame) {
            Ok(Some(size)) => usize::try_from(size).ok(),
            Ok(None) | Err(_) => None,
        };
        let Some(size) = size else {
            return zstd::stream::decode_all(frame).map(Cow::Owned);
        };
        if size > KEEP_BELOW {
            return zstd::bulk::decompress(frame, size).map(Cow::Owned);
        }
        let zstd = match &mut self.zstd {
            Some(zstd) => zstd,
            slot @ None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        self.out.clear();
        self.out.reserve(size);
        zstd.decompress_to_buffer(frame, &mut self.out)?;
        Ok(Cow::Borrowed(&self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_kept_and_dropped_contexts() {
        let mut encoder = Encoder::new(3);
        let mut decoder = Decoder::new();
        let small = vec!["cpu"; 100];
        let large: Vec<String> = (0..60_000).map(|i| format!("value-{i}")).collect();
        for _ in 0..3 {
            let (frame, json_len) = encoder.encode(&small).expect("encode");
            let json = decoder.decode(&frame).expect("decode").into_owned();
            assert_eq!(json.len(), json_len);
            assert_eq!(json, serde_json::to_vec(&small).expect("json"));
            // Every frame stands alone: a fresh decoder reads it too.
            assert_eq!(
                zstd::stream::decode_all(frame.as_slice()).expect("std"),
                json
            );

            let (frame, json_len) = encoder.encode(&large).expect("encode");
            assert!(json_len > KEEP_BELOW, "exercises the dropped context");
            let json = decoder.decode(&frame).expect("decode");
            assert_eq!(*json, *serde_json::to_vec(&large).expect("json"));
        }
    }

    #[test]
    fn a_frame_without_content_size_still_decodes_and_garbage_is_an_error() {
        let mut streamed = Vec::new();
        {
            let mut writer = zstd::stream::write::Encoder::new(&mut streamed, 1).expect("enc");
            io::Write::write_all(&mut writer, b"{\"a\":1}").expect("write");
            writer.finish().expect("finish");
        }
        let mut decoder = Decoder::new();
        assert_eq!(*decoder.decode(&streamed).expect("decode"), *b"{\"a\":1}");
        assert!(decoder.decode(b"not zstd at all").is_err());
    }
}
