//! The clear parts of MLS messages (RFC 9420 §6, §10, §12.4.3.1): what the
//! Delivery Service needs to read to order and route them — the group, the
//! epoch, the kind of content, the cipher suite — and nothing more. This is
//! parsing of the TLS presentation language, not cryptography: nothing here
//! holds a key, decrypts or verifies a signature; the browsers do that.

use std::fmt;

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{ConversationId, DeviceId, UserId};

/// The only protocol version there is, `mls10`.
const MLS10: u16 = 1;

/// The one cipher suite secret conversations use:
/// `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`, which browsers can run on
/// WebCrypto alone.
pub const CIPHER_SUITE: u16 = 1;

/// How a group message is framed: signed in the clear or encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    Public,
    Private,
}

/// What a group message carries (RFC 9420 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Application,
    Proposal,
    Commit,
}

impl ContentKind {
    /// The name stored beside the message.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Application => "application",
            ContentKind::Proposal => "proposal",
            ContentKind::Commit => "commit",
        }
    }
}

/// The clear header of a message sent to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMessage {
    pub wire_format: WireFormat,
    pub group_id: Vec<u8>,
    pub epoch: u64,
    pub kind: ContentKind,
}

/// A browser session's MLS client, as the server knows it: whose it is and
/// its signature public key (for fingerprints and safety numbers).
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Device {
    pub id: DeviceId,
    pub user_id: UserId,
    pub signature_key: Vec<u8>,
    pub created_at: OffsetDateTime,
}

impl Device {
    /// What a person compares to tell this device's key from another: the
    /// first 16 bytes of the SHA-256 of its signature key, in groups of four
    /// hex digits.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(&self.signature_key);
        digest[..16]
            .chunks(2)
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A KeyPackage handed out to a member's device so that it can add the
/// device it belongs to; it is never handed out again.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ClaimedKeyPackage {
    pub device_id: DeviceId,
    pub user_id: UserId,
    pub key_package: Vec<u8>,
}

/// A Welcome waiting for its device.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct PendingWelcome {
    pub id: i64,
    pub conversation_id: ConversationId,
    pub welcome: Vec<u8>,
    /// The change the commit adding the device took: it reads on after it.
    pub seq: i64,
}

/// A group's MLS message as stored: its place in the conversation's change
/// log, who sent it from which device, its epoch and kind, the opaque bytes.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct GroupRecord {
    pub seq: i64,
    pub device_id: DeviceId,
    pub sender_id: UserId,
    pub epoch: i64,
    pub kind: String,
    pub body: Vec<u8>,
    pub created_at: OffsetDateTime,
}

/// Where a group message was stored: its place in the conversation's
/// change log and the group's epoch after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Posted {
    pub seq: i64,
    pub epoch: i64,
}

/// What a commit does to the group's device list, as its sender declares
/// it: the server routes by this list (it cannot read the commit); the
/// MLS state in the browsers stays what decides who can decrypt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterChange {
    /// Devices added, each with the Welcome made for it.
    pub added: Vec<(DeviceId, Vec<u8>)>,
    pub removed: Vec<DeviceId>,
}

/// Why bytes are not the MLS object they were sent as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MlsFramingError {
    /// The bytes end before the structure does.
    Truncated,
    /// A variable-length size in the reserved 8-byte form.
    BadLength,
    Version(u16),
    /// A wire format other than the one expected where it is.
    WireFormat(u16),
    CipherSuite(u16),
    Sender(u8),
    ContentType(u8),
}

impl fmt::Display for MlsFramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MlsFramingError::Truncated => write!(f, "the MLS message is cut short"),
            MlsFramingError::BadLength => write!(f, "the MLS message has an invalid length"),
            MlsFramingError::Version(v) => write!(f, "MLS protocol version {v} is not supported"),
            MlsFramingError::WireFormat(w) => write!(f, "MLS wire format {w} is not expected here"),
            MlsFramingError::CipherSuite(c) => {
                write!(
                    f,
                    "MLS cipher suite {c} is not the one secret conversations use"
                )
            }
            MlsFramingError::Sender(s) => write!(f, "MLS sender type {s} is unknown"),
            MlsFramingError::ContentType(c) => write!(f, "MLS content type {c} is unknown"),
        }
    }
}

impl std::error::Error for MlsFramingError {}

type Parsed<T> = Result<T, MlsFramingError>;

/// Reads TLS-encoded fields front to back.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Parsed<&'a [u8]> {
        if self.rest.len() < n {
            return Err(MlsFramingError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Parsed<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Parsed<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Parsed<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Parsed<u64> {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(bytes))
    }

    /// A vector `<V>`: its size in the variable-length integer of RFC 9420
    /// §2.1.2 (1, 2 or 4 bytes, the top two bits saying which), then the bytes.
    fn vector(&mut self) -> Parsed<&'a [u8]> {
        let first = self.u8()?;
        let size = match first >> 6 {
            0 => u32::from(first & 0x3f),
            1 => (u32::from(first & 0x3f) << 8) | u32::from(self.u8()?),
            2 => {
                let b = self.take(3)?;
                (u32::from(first & 0x3f) << 24)
                    | (u32::from(b[0]) << 16)
                    | (u32::from(b[1]) << 8)
                    | u32::from(b[2])
            }
            _ => return Err(MlsFramingError::BadLength),
        };
        self.take(usize::try_from(size).map_err(|_| MlsFramingError::BadLength)?)
    }

    fn version(&mut self) -> Parsed<()> {
        match self.u16()? {
            MLS10 => Ok(()),
            other => Err(MlsFramingError::Version(other)),
        }
    }

    fn cipher_suite(&mut self) -> Parsed<()> {
        match self.u16()? {
            CIPHER_SUITE => Ok(()),
            other => Err(MlsFramingError::CipherSuite(other)),
        }
    }

    fn content_kind(&mut self) -> Parsed<ContentKind> {
        match self.u8()? {
            1 => Ok(ContentKind::Application),
            2 => Ok(ContentKind::Proposal),
            3 => Ok(ContentKind::Commit),
            other => Err(MlsFramingError::ContentType(other)),
        }
    }
}

const PUBLIC_MESSAGE: u16 = 1;
const PRIVATE_MESSAGE: u16 = 2;
const WELCOME: u16 = 3;
const KEY_PACKAGE: u16 = 5;

/// The clear header of an `MLSMessage` holding a `PublicMessage` or a
/// `PrivateMessage`: which group, which epoch, what kind of content.
pub fn read_group_message(bytes: &[u8]) -> Result<GroupMessage, MlsFramingError> {
    let mut r = Reader { rest: bytes };
    r.version()?;
    match r.u16()? {
        PUBLIC_MESSAGE => {
            let group_id = r.vector()?.to_vec();
            let epoch = r.u64()?;
            match r.u8()? {
                1 | 2 => {
                    r.u32()?;
                }
                3 | 4 => {}
                other => return Err(MlsFramingError::Sender(other)),
            }
            r.vector()?; // authenticated_data
            let kind = r.content_kind()?;
            Ok(GroupMessage {
                wire_format: WireFormat::Public,
                group_id,
                epoch,
                kind,
            })
        }
        PRIVATE_MESSAGE => {
            let group_id = r.vector()?.to_vec();
            let epoch = r.u64()?;
            let kind = r.content_kind()?;
            r.vector()?; // authenticated_data
            r.vector()?; // encrypted_sender_data
            r.vector()?; // ciphertext
            Ok(GroupMessage {
                wire_format: WireFormat::Private,
                group_id,
                epoch,
                kind,
            })
        }
        other => Err(MlsFramingError::WireFormat(other)),
    }
}

/// Checks that bytes are an `MLSMessage` holding a `KeyPackage` of the
/// cipher suite secret conversations use (its signature is the joining
/// group's to check).
pub fn check_key_package(bytes: &[u8]) -> Result<(), MlsFramingError> {
    let mut r = Reader { rest: bytes };
    r.version()?;
    match r.u16()? {
        KEY_PACKAGE => {
            r.version()?;
            r.cipher_suite()?;
            r.vector()?; // init_key
            Ok(())
        }
        other => Err(MlsFramingError::WireFormat(other)),
    }
}

/// Checks that bytes are an `MLSMessage` holding a `Welcome` of the cipher
/// suite secret conversations use.
pub fn check_welcome(bytes: &[u8]) -> Result<(), MlsFramingError> {
    let mut r = Reader { rest: bytes };
    r.version()?;
    match r.u16()? {
        WELCOME => {
            r.cipher_suite()?;
            r.vector()?; // secrets
            r.vector()?; // encrypted_group_info
            Ok(())
        }
        other => Err(MlsFramingError::WireFormat(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector with the shortest size prefix that holds it.
    fn vector(bytes: &[u8]) -> Vec<u8> {
        let n = bytes.len();
        let mut out = if n < 64 {
            vec![n as u8]
        } else if n < 16384 {
            vec![0x40 | (n >> 8) as u8, n as u8]
        } else {
            vec![
                0x80 | (n >> 24) as u8,
                (n >> 16) as u8,
                (n >> 8) as u8,
                n as u8,
            ]
        };
        out.extend_from_slice(bytes);
        out
    }

    fn private_message(group: &[u8], epoch: u64, content_type: u8) -> Vec<u8> {
        let mut m = vec![0, 1, 0, 2];
        m.extend(vector(group));
        m.extend(epoch.to_be_bytes());
        m.push(content_type);
        m.extend(vector(b""));
        m.extend(vector(&[7; 40]));
        m.extend(vector(&[9; 300]));
        m
    }

    #[test]
    fn a_fingerprint_is_the_start_of_the_key_hash_in_groups() {
        let device = Device {
            id: DeviceId::new(1),
            user_id: UserId::new(1),
            signature_key: b"abc".to_vec(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 …
        assert_eq!(
            device.fingerprint(),
            "ba78 16bf 8f01 cfea 4141 40de 5dae 2223"
        );
    }

    #[test]
    fn a_private_message_shows_its_group_epoch_and_kind() {
        let m = private_message(b"natter-7", 3, 3);
        assert_eq!(
            read_group_message(&m),
            Ok(GroupMessage {
                wire_format: WireFormat::Private,
                group_id: b"natter-7".to_vec(),
                epoch: 3,
                kind: ContentKind::Commit,
            })
        );
        let app = private_message(b"natter-7", u64::MAX, 1);
        assert_eq!(
            read_group_message(&app).map(|g| (g.epoch, g.kind)),
            Ok((u64::MAX, ContentKind::Application))
        );
    }

    #[test]
    fn a_public_commit_from_a_member_shows_its_header() {
        let mut m = vec![0, 1, 0, 1];
        m.extend(vector(&[1; 70])); // a two-byte size
        m.extend(5u64.to_be_bytes());
        m.extend([1, 0, 0, 0, 2]); // member, leaf 2
        m.extend(vector(b"ad"));
        m.push(3);
        m.extend([0xde, 0xad]);
        let g = read_group_message(&m).unwrap();
        assert_eq!(
            (g.wire_format, g.group_id.len(), g.epoch, g.kind),
            (WireFormat::Public, 70, 5, ContentKind::Commit)
        );
    }

    #[test]
    fn anything_else_is_refused_without_panicking() {
        let good = private_message(b"g", 1, 1);
        for cut in 0..good.len() {
            assert!(read_group_message(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut version = good.clone();
        version[1] = 2;
        assert_eq!(
            read_group_message(&version),
            Err(MlsFramingError::Version(2))
        );
        let mut welcome = good.clone();
        welcome[3] = 3;
        assert_eq!(
            read_group_message(&welcome),
            Err(MlsFramingError::WireFormat(3))
        );
        assert_eq!(
            read_group_message(&private_message(b"g", 1, 9)),
            Err(MlsFramingError::ContentType(9))
        );
        let mut eight_byte_size = vec![0, 1, 0, 2, 0xc0];
        eight_byte_size.extend([0; 7]);
        assert_eq!(
            read_group_message(&eight_byte_size),
            Err(MlsFramingError::BadLength)
        );
        let mut four_byte_size = vec![0, 1, 0, 2, 0xbf, 0xff, 0xff, 0xff];
        four_byte_size.extend([0; 8]);
        assert_eq!(
            read_group_message(&four_byte_size),
            Err(MlsFramingError::Truncated)
        );
        assert!(check_key_package(&good).is_err());
        assert!(check_welcome(&good).is_err());
    }

    #[test]
    fn key_packages_and_welcomes_must_use_the_one_cipher_suite() {
        let mut kp = vec![0, 1, 0, 5, 0, 1, 0, 1];
        kp.extend(vector(&[4; 32]));
        assert_eq!(check_key_package(&kp), Ok(()));
        kp[7] = 3;
        assert_eq!(check_key_package(&kp), Err(MlsFramingError::CipherSuite(3)));
        let mut welcome = vec![0, 1, 0, 3, 0, 1];
        welcome.extend(vector(&[1; 100]));
        welcome.extend(vector(&[2; 20]));
        assert_eq!(check_welcome(&welcome), Ok(()));
        assert_eq!(
            check_welcome(&welcome[..welcome.len() - 1]),
            Err(MlsFramingError::Truncated)
        );
    }

    #[test]
    fn what_the_vendored_library_sends_reads_as_it_should() {
        // Made by static/mls.js (contrib/mls/fixtures.mjs): alice's device
        // creates group "natter-7", adds bob's with a commit, then says hello.
        let commit = read_group_message(include_bytes!(
            "../../tests/fixtures/mls/commit_epoch_0.bin"
        ));
        assert_eq!(
            commit,
            Ok(GroupMessage {
                wire_format: WireFormat::Private,
                group_id: b"natter-7".to_vec(),
                epoch: 0,
                kind: ContentKind::Commit,
            })
        );
        let hello = read_group_message(include_bytes!(
            "../../tests/fixtures/mls/application_epoch_1.bin"
        ));
        assert_eq!(
            hello.map(|g| (g.epoch, g.kind)),
            Ok((1, ContentKind::Application))
        );
        assert_eq!(
            check_key_package(include_bytes!("../../tests/fixtures/mls/key_package.bin")),
            Ok(())
        );
        assert_eq!(
            check_welcome(include_bytes!("../../tests/fixtures/mls/welcome.bin")),
            Ok(())
        );
    }
}
