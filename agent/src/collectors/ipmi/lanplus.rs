//! Our RMCP+ (IPMI v2.0 "lanplus") session: cipher suite 3 (RAKP-HMAC-SHA1,
//! HMAC-SHA1-96, AES-CBC-128), implementing ipmi-rs's public `IpmiConnection` trait so
//! every ipmi-rs command and ours runs over it through `ipmi_rs::Ipmi`.
//!
//! ipmi-rs 0.6 has its own RMCP+ client, but it cannot serve a monitoring agent:
//! it always requests ADMINISTRATOR without the name-only-lookup bit (a read-only USER
//! account cannot log in), never matches a response to its request (a late answer
//! after a timeout is taken as the answer to the next command), has no retries, and
//! panics (`unwrap`) on some malformed answers. A BMC that answers garbage must not take
//! the agent down, so the session is ours; the crypto follows IPMI v2.0 §13.28–13.32.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use ipmi_rs::connection::{IpmiConnection, Message, NetFn, Request, Response};
use sha1::Sha1;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The privilege level a session asks for (IPMI v2.0 table 13-17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    User = 2,
    Operator = 3,
    Administrator = 4,
}

/// Why a session could not be opened or a request not be answered.
#[derive(Debug, thiserror::Error)]
pub enum LanError {
    #[error("{addr}: socket: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr}: no answer after {attempts} attempt(s) of {timeout:?}")]
    Timeout {
        addr: SocketAddr,
        attempts: u32,
        timeout: Duration,
    },
    #[error("{addr}: {step}: {message}")]
    Handshake {
        addr: SocketAddr,
        step: &'static str,
        message: String,
    },
    #[error("{addr}: session is closed")]
    Closed { addr: SocketAddr },
}

/// Session parameters.
#[derive(Clone)]
pub struct LanParams {
    pub addr: SocketAddr,
    pub username: String,
    pub password: String,
    pub privilege: Privilege,
    /// How long to wait for one answer.
    pub timeout: Duration,
    /// How many times a request is re-sent after a timeout.
    pub retries: u32,
}

impl std::fmt::Debug for LanParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanParams")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("privilege", &self.privilege)
            .finish()
    }
}

type HmacSha1 = Hmac<Sha1>;

const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
const AUTH_TYPE_RMCP_PLUS: u8 = 0x06;
const PAYLOAD_IPMI: u8 = 0x00;
const PAYLOAD_OPEN_REQ: u8 = 0x10;
const PAYLOAD_OPEN_RESP: u8 = 0x11;
const PAYLOAD_RAKP1: u8 = 0x12;
const PAYLOAD_RAKP2: u8 = 0x13;
const PAYLOAD_RAKP3: u8 = 0x14;
const PAYLOAD_RAKP4: u8 = 0x15;
/// RAKP1 role bit: look the user up by name only, so the BMC grants up to the
/// account's own limit instead of refusing a USER account that asks for less than admin.
const NAME_ONLY_LOOKUP: u8 = 0x10;
const BMC_ADDR: u8 = 0x20;
const REMOTE_CONSOLE_ADDR: u8 = 0x81;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    // HMAC accepts keys of any length; the Err arm cannot happen for HMAC.
    let mut mac = match HmacSha1::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 20],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if getrandom::fill(&mut buf).is_err() {
        // Without an OS RNG the session ids and nonces are merely unpredictable enough
        // for a loopback test; log it, since a real deployment should never see it.
        tracing::warn!("no OS random source; using time-seeded nonces");
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
        }
    }
    buf
}

/// Session keys derived from the SIK (IPMI v2.0 §13.32).
#[derive(Clone)]
struct Keys {
    k1: [u8; 20],
    aes: [u8; 16],
}

impl Keys {
    fn from_sik(sik: &[u8; 20]) -> Self {
        let k1 = hmac(sik, &[&[0x01; 20]]);
        let k2 = hmac(sik, &[&[0x02; 20]]);
        let mut aes = [0u8; 16];
        aes.copy_from_slice(&k2[..16]);
        Self { k1, aes }
    }
}

/// Builds a session packet (RMCP header included). Without keys: the unauthenticated,
/// unencrypted form used during the handshake.
fn wrap(
    payload_type: u8,
    session_id: u32,
    seq: u32,
    payload: &[u8],
    keys: Option<&Keys>,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(payload.len() + 64);
    buf.extend_from_slice(&RMCP_HEADER);
    buf.push(AUTH_TYPE_RMCP_PLUS);
    let flags = if keys.is_some() { 0xC0 } else { 0x00 };
    buf.push(flags | payload_type);
    buf.extend_from_slice(&session_id.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    match keys {
        None => {
            buf.extend_from_slice(&(payload.len() as u16).to_le_bytes());
            buf.extend_from_slice(payload);
        }
        Some(keys) => {
            let iv: [u8; 16] = random();
            let pad = (16 - (payload.len() + 1) % 16) % 16;
            let mut body = Vec::with_capacity(payload.len() + pad + 1);
            body.extend_from_slice(payload);
            body.extend((1..=pad as u8).take(pad));
            body.push(pad as u8);
            let len = body.len();
            let enc = cbc::Encryptor::<aes::Aes128>::new(&keys.aes.into(), &iv.into());
            // `body` is a whole number of blocks, so NoPadding cannot fail.
            let _ = enc.encrypt_padded_mut::<NoPadding>(&mut body, len);
            buf.extend_from_slice(&((16 + body.len()) as u16).to_le_bytes());
            buf.extend_from_slice(&iv);
            buf.extend_from_slice(&body);
            // Integrity pad: auth type .. next header must be a multiple of 4 bytes.
            let covered = buf.len() - 4 + 2;
            let ipad = (4 - covered % 4) % 4;
            buf.extend(std::iter::repeat_n(0xFF, ipad));
            buf.push(ipad as u8);
            buf.push(0x07);
            let mac = hmac(&keys.k1, &[&buf[4..]]);
            buf.extend_from_slice(&mac[..12]);
        }
    }
    buf
}

/// One received session packet.
#[derive(Debug, PartialEq)]
struct Unwrapped {
    payload_type: u8,
    session_id: u32,
    payload: Vec<u8>,
}

/// Parses and (with keys) authenticates and decrypts a packet; `Err` names the defect.
fn unwrap(packet: &[u8], keys: Option<&Keys>) -> Result<Unwrapped, String> {
    if packet.len() < 4 + 12 || packet[..4] != RMCP_HEADER[..] {
        return Err("not an RMCP IPMI packet".into());
    }
    let data = &packet[4..];
    if data[0] != AUTH_TYPE_RMCP_PLUS {
        return Err(format!("auth type {:#04x} is not RMCP+", data[0]));
    }
    let payload_type = data[1] & 0x3F;
    let secured = data[1] & 0xC0;
    let session_id = u32::from_le_bytes([data[2], data[3], data[4], data[5]]);
    let len = usize::from(u16::from_le_bytes([data[10], data[11]]));
    let body = data
        .get(12..12 + len)
        .ok_or("payload length exceeds packet")?;
    let Some(keys) = keys else {
        if secured != 0 {
            return Err("secured packet before the session was established".into());
        }
        return Ok(Unwrapped {
            payload_type,
            session_id,
            payload: body.to_vec(),
        });
    };
    if secured != 0xC0 {
        return Err("unauthenticated or unencrypted packet inside the session".into());
    }
    let (signed, mac) = data.split_at(data.len().checked_sub(12).ok_or("no integrity trailer")?);
    if hmac(&keys.k1, &[signed])[..12] != *mac {
        return Err("integrity check failed".into());
    }
    if body.len() < 32 || body.len() % 16 != 0 {
        return Err(format!("encrypted payload of {} bytes", body.len()));
    }
    let (iv, cipher) = body.split_at(16);
    let mut plain = cipher.to_vec();
    let iv: [u8; 16] = iv.try_into().map_err(|_| "short IV")?;
    let dec = cbc::Decryptor::<aes::Aes128>::new(&keys.aes.into(), &iv.into());
    dec.decrypt_padded_mut::<NoPadding>(&mut plain)
        .map_err(|_| "decryption failed")?;
    let pad = usize::from(*plain.last().ok_or("empty plaintext")?);
    let keep = plain
        .len()
        .checked_sub(pad + 1)
        .ok_or("confidentiality pad longer than payload")?;
    plain.truncate(keep);
    Ok(Unwrapped {
        payload_type,
        session_id,
        payload: plain,
    })
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// The IPMB-framed request inside an IPMI payload.
fn ipmb_request(netfn: u8, lun: u8, rq_seq: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
    let head = [BMC_ADDR, (netfn << 2) | (lun & 3)];
    let mut out = Vec::with_capacity(7 + data.len());
    out.extend_from_slice(&head);
    out.push(checksum(&head));
    let start = out.len();
    out.extend_from_slice(&[REMOTE_CONSOLE_ADDR, rq_seq << 2, cmd]);
    out.extend_from_slice(data);
    out.push(checksum(&out[start..]));
    out
}

/// `(netfn, rq_seq, cmd, cc + data)` of an IPMB-framed response, checksums verified.
fn ipmb_response(frame: &[u8]) -> Result<(u8, u8, u8, Vec<u8>), String> {
    if frame.len() < 8 {
        return Err(format!("IPMI response of {} bytes", frame.len()));
    }
    if checksum(&frame[..2]) != frame[2]
        || checksum(&frame[3..frame.len() - 1]) != frame[frame.len() - 1]
    {
        return Err("IPMB checksum mismatch".into());
    }
    Ok((
        frame[1] >> 2,
        frame[4] >> 2,
        frame[5],
        frame[6..frame.len() - 1].to_vec(),
    ))
}

/// An established RMCP+ session.
pub struct LanSession {
    params: LanParams,
    socket: UdpSocket,
    /// The BMC's id for this session (goes into every packet we send).
    managed_id: u32,
    /// Our id for this session (the BMC puts it into every packet it sends).
    console_id: u32,
    keys: Keys,
    seq: u32,
    rq_seq: u8,
    closed: bool,
    /// Answers that arrived for the wrong request, for the tests and the logs.
    pub stale_answers: u64,
}

impl std::fmt::Debug for LanSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanSession")
            .field("params", &self.params)
            .field("managed_id", &self.managed_id)
            .finish_non_exhaustive()
    }
}

impl LanSession {
    /// Opens a session: Open Session, RAKP 1–4, then Set Session Privilege Level when
    /// more than USER is wanted (sessions start at USER).
    pub fn open(params: LanParams) -> Result<Self, LanError> {
        let addr = params.addr;
        let io = |source| LanError::Io { addr, source };
        let bind: SocketAddr = if addr.is_ipv6() {
            "[::]:0".parse().map_err(|_| LanError::Closed { addr })?
        } else {
            "0.0.0.0:0".parse().map_err(|_| LanError::Closed { addr })?
        };
        let socket = UdpSocket::bind(bind).map_err(io)?;
        socket.connect(addr).map_err(io)?;
        let console_id = u32::from_le_bytes(random::<4>()) | 1;
        let fail = |step: &'static str, message: String| LanError::Handshake {
            addr,
            step,
            message,
        };

        // Open Session: cipher suite 3.
        let mut open = vec![0x00, 0x00, 0x00, 0x00];
        open.extend_from_slice(&console_id.to_le_bytes());
        open.extend_from_slice(&[0x00, 0, 0, 0x08, 0x01, 0, 0, 0]);
        open.extend_from_slice(&[0x01, 0, 0, 0x08, 0x01, 0, 0, 0]);
        open.extend_from_slice(&[0x02, 0, 0, 0x08, 0x01, 0, 0, 0]);
        let resp = handshake(&socket, &params, PAYLOAD_OPEN_REQ, &open, PAYLOAD_OPEN_RESP)?;
        if resp.len() < 2 || resp[1] != 0 {
            return Err(fail(
                "open session",
                format!(
                    "BMC refused (status {:#04x})",
                    resp.get(1).copied().unwrap_or(0xFF)
                ),
            ));
        }
        if resp.len() < 36 {
            return Err(fail(
                "open session",
                format!("response of {} bytes", resp.len()),
            ));
        }
        if u32::from_le_bytes([resp[4], resp[5], resp[6], resp[7]]) != console_id {
            return Err(fail("open session", "answer for another session".into()));
        }
        let managed_id = u32::from_le_bytes([resp[8], resp[9], resp[10], resp[11]]);

        // RAKP 1 and 2.
        let rc: [u8; 16] = random();
        let role = params.privilege as u8 | NAME_ONLY_LOOKUP;
        let user = params.username.as_bytes();
        let mut rakp1 = vec![0x00, 0, 0, 0];
        rakp1.extend_from_slice(&managed_id.to_le_bytes());
        rakp1.extend_from_slice(&rc);
        rakp1.extend_from_slice(&[role, 0, 0, user.len() as u8]);
        rakp1.extend_from_slice(user);
        let r2 = handshake(&socket, &params, PAYLOAD_RAKP1, &rakp1, PAYLOAD_RAKP2)?;
        if r2.len() < 2 || r2[1] != 0 {
            return Err(fail(
                "RAKP 2",
                format!(
                    "BMC refused user {:?} (status {:#04x}: unknown user or wrong privilege)",
                    params.username,
                    r2.get(1).copied().unwrap_or(0xFF)
                ),
            ));
        }
        if r2.len() < 60 {
            return Err(fail("RAKP 2", format!("message of {} bytes", r2.len())));
        }
        let rm = &r2[8..24];
        let guid = &r2[24..40];
        let kex = &r2[40..60];
        let password = params.password.as_bytes();
        let ulen = [role, user.len() as u8];
        let expect = hmac(
            password,
            &[
                &console_id.to_le_bytes(),
                &managed_id.to_le_bytes(),
                &rc,
                rm,
                guid,
                &ulen,
                user,
            ],
        );
        if expect[..] != *kex {
            return Err(fail(
                "RAKP 2",
                "wrong password (key exchange code mismatch)".into(),
            ));
        }
        let sik = hmac(password, &[&rc, rm, &ulen, user]);

        // RAKP 3 and 4.
        let auth = hmac(password, &[rm, &console_id.to_le_bytes(), &ulen, user]);
        let mut rakp3 = vec![0x00, 0x00, 0, 0];
        rakp3.extend_from_slice(&managed_id.to_le_bytes());
        rakp3.extend_from_slice(&auth);
        let r4 = handshake(&socket, &params, PAYLOAD_RAKP3, &rakp3, PAYLOAD_RAKP4)?;
        if r4.len() < 2 || r4[1] != 0 {
            return Err(fail(
                "RAKP 4",
                format!(
                    "BMC refused (status {:#04x})",
                    r4.get(1).copied().unwrap_or(0xFF)
                ),
            ));
        }
        if r4.len() < 20 {
            return Err(fail("RAKP 4", format!("message of {} bytes", r4.len())));
        }
        let icv = hmac(&sik, &[&rc, &managed_id.to_le_bytes(), guid]);
        if icv[..12] != r4[8..20] {
            return Err(fail("RAKP 4", "BMC failed to prove the session key".into()));
        }

        let mut session = Self {
            params,
            socket,
            managed_id,
            console_id,
            keys: Keys::from_sik(&sik),
            seq: 0,
            rq_seq: 0,
            closed: false,
            stale_answers: 0,
        };
        if session.params.privilege != Privilege::User {
            let level = session.params.privilege as u8;
            let (cc, _) = session.call(NetFn::App.request_value(), 0, 0x3B, &[level])?;
            if cc != 0 {
                return Err(fail(
                    "set session privilege",
                    format!("completion code {cc:#04x}"),
                ));
            }
        }
        Ok(session)
    }

    pub fn addr(&self) -> SocketAddr {
        self.params.addr
    }

    /// One request/response exchange with retries; the answer is matched on the
    /// request's sequence number and command, so late answers are discarded.
    pub fn call(
        &mut self,
        netfn: u8,
        lun: u8,
        cmd: u8,
        data: &[u8],
    ) -> Result<(u8, Vec<u8>), LanError> {
        let addr = self.params.addr;
        if self.closed {
            return Err(LanError::Closed { addr });
        }
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let rq_seq = self.rq_seq;
        let frame = ipmb_request(netfn, lun, rq_seq, cmd, data);
        let attempts = self.params.retries + 1;
        for _ in 0..attempts {
            self.seq = self.seq.wrapping_add(1).max(1);
            let packet = wrap(
                PAYLOAD_IPMI,
                self.managed_id,
                self.seq,
                &frame,
                Some(&self.keys),
            );
            self.socket
                .send(&packet)
                .map_err(|source| LanError::Io { addr, source })?;
            let deadline = Instant::now() + self.params.timeout;
            while let Some(packet) = recv_until(&self.socket, deadline, addr)? {
                match unwrap(&packet, Some(&self.keys)) {
                    Ok(msg)
                        if msg.payload_type == PAYLOAD_IPMI
                            && msg.session_id == self.console_id =>
                    {
                        match ipmb_response(&msg.payload) {
                            Ok((rnetfn, rseq, rcmd, body))
                                if rseq == rq_seq
                                    && rcmd == cmd
                                    && rnetfn == (netfn | 1)
                                    && !body.is_empty() =>
                            {
                                let cc = body[0];
                                return Ok((cc, body[1..].to_vec()));
                            }
                            Ok(_) => self.stale_answers += 1,
                            Err(err) => {
                                tracing::debug!(bmc = %addr, error = %err, "dropping malformed answer")
                            }
                        }
                    }
                    Ok(_) => self.stale_answers += 1,
                    Err(err) => {
                        tracing::debug!(bmc = %addr, error = %err, "dropping undecodable packet")
                    }
                }
            }
        }
        // A session that timed out is not trusted again: the caller opens a new one.
        self.closed = true;
        Err(LanError::Timeout {
            addr,
            attempts,
            timeout: self.params.timeout,
        })
    }

    /// Closes the session on the BMC (its slot table is small), best effort.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        let id = self.managed_id.to_le_bytes();
        let saved = self.params.retries;
        self.params.retries = 0;
        let _ = self.call(NetFn::App.request_value(), 0, 0x3C, &id);
        self.params.retries = saved;
        self.closed = true;
    }
}

impl Drop for LanSession {
    fn drop(&mut self) {
        self.close();
    }
}

/// Sends a handshake message and waits (with retries) for the expected answer type.
fn handshake(
    socket: &UdpSocket,
    params: &LanParams,
    ty: u8,
    payload: &[u8],
    want: u8,
) -> Result<Vec<u8>, LanError> {
    let addr = params.addr;
    let attempts = params.retries + 1;
    for _ in 0..attempts {
        socket
            .send(&wrap(ty, 0, 0, payload, None))
            .map_err(|source| LanError::Io { addr, source })?;
        let deadline = Instant::now() + params.timeout;
        while let Some(packet) = recv_until(socket, deadline, addr)? {
            match unwrap(&packet, None) {
                Ok(msg) if msg.payload_type == want => return Ok(msg.payload),
                Ok(_) => {}
                Err(err) => tracing::debug!(bmc = %addr, error = %err, "dropping handshake packet"),
            }
        }
    }
    Err(LanError::Timeout {
        addr,
        attempts,
        timeout: params.timeout,
    })
}

/// The next datagram, or `None` once `deadline` passes.
fn recv_until(
    socket: &UdpSocket,
    deadline: Instant,
    addr: SocketAddr,
) -> Result<Option<Vec<u8>>, LanError> {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|source| LanError::Io { addr, source })?;
        match socket.recv(&mut buf) {
            Ok(n) => return Ok(Some(buf[..n].to_vec())),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            // ICMP port unreachable from a dead BMC shows up as a refused recv: same as silence.
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
            Err(source) => return Err(LanError::Io { addr, source }),
        }
    }
}

impl IpmiConnection for LanSession {
    type SendError = LanError;
    type RecvError = LanError;
    type Error = LanError;

    /// Requests and answers are one exchange here (`send_recv`); the split form is
    /// not used by `ipmi_rs::Ipmi` and is refused.
    fn send(&mut self, _request: &mut Request) -> Result<(), LanError> {
        Err(LanError::Closed {
            addr: self.params.addr,
        })
    }

    fn recv(&mut self) -> Result<Response, LanError> {
        Err(LanError::Closed {
            addr: self.params.addr,
        })
    }

    fn send_recv(&mut self, request: &mut Request) -> Result<Response, LanError> {
        let netfn = request.netfn().request_value();
        let lun = request.target().lun().value();
        let cmd = request.cmd();
        let (cc, data) = self.call(netfn, lun, cmd, request.data())?;
        let mut body = Vec::with_capacity(data.len() + 1);
        body.push(cc);
        body.extend_from_slice(&data);
        Response::new(Message::new_raw(netfn | 1, cmd, body), 0).ok_or(LanError::Closed {
            addr: self.params.addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secured_packets_round_trip_and_tampering_is_detected() {
        let keys = Keys::from_sik(&[7u8; 20]);
        for len in [0usize, 1, 7, 15, 16, 17, 40] {
            let payload: Vec<u8> = (0..len as u8).collect();
            let packet = wrap(PAYLOAD_IPMI, 0x1234, 9, &payload, Some(&keys));
            // auth type .. next header is a multiple of 4, as the spec requires.
            assert_eq!((packet.len() - 4 - 12) % 4, 0, "len {len}");
            let msg = unwrap(&packet, Some(&keys)).expect("own packet decodes");
            assert_eq!(msg.payload, payload);
            assert_eq!(msg.session_id, 0x1234);
            let mut bad = packet.clone();
            bad[20] ^= 1;
            assert!(
                unwrap(&bad, Some(&keys)).is_err(),
                "tampered packet accepted"
            );
            let other = Keys::from_sik(&[8u8; 20]);
            assert!(unwrap(&packet, Some(&other)).is_err(), "wrong key accepted");
        }
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        let keys = Keys::from_sik(&[1u8; 20]);
        for n in 0..80usize {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            assert!(unwrap(&junk, Some(&keys)).is_err());
            let mut framed = RMCP_HEADER.to_vec();
            framed.push(AUTH_TYPE_RMCP_PLUS);
            framed.push(0xC0);
            framed.extend_from_slice(&junk);
            assert!(unwrap(&framed, Some(&keys)).is_err());
            let _ = unwrap(&framed, None);
        }
    }

    #[test]
    fn ipmb_frames_carry_valid_checksums() {
        // Get Device ID as ipmitool frames it: 20 18 c8 81 04 01 7a.
        let frame = ipmb_request(0x06, 0, 1, 0x01, &[]);
        assert_eq!(frame, [0x20, 0x18, 0xC8, 0x81, 0x04, 0x01, 0x7A]);
        let resp = [0x81, 0x1C, 0x63, 0x20, 0x04, 0x01, 0x00, 0x20, 0x00];
        let mut resp = resp.to_vec();
        let sum = checksum(&resp[3..]);
        resp.push(sum);
        let (netfn, seq, cmd, body) = ipmb_response(&resp).expect("valid frame");
        assert_eq!((netfn, seq, cmd), (0x07, 1, 0x01));
        assert_eq!(body, [0x00, 0x20, 0x00]);
        resp[7] ^= 0xFF;
        assert!(ipmb_response(&resp).is_err());
    }

    #[test]
    fn a_silent_bmc_times_out_within_the_bounds() {
        // A bound UDP socket that never answers stands in for a hung BMC.
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let params = LanParams {
            addr: silent.local_addr().expect("addr"),
            username: "monitor".into(),
            password: "s3cret".into(),
            privilege: Privilege::User,
            timeout: Duration::from_millis(100),
            retries: 2,
        };
        assert!(
            !format!("{params:?}").contains("s3cret"),
            "password redacted"
        );
        let started = Instant::now();
        match LanSession::open(params) {
            Err(LanError::Timeout { attempts, .. }) => assert_eq!(attempts, 3),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
