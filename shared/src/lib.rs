//! The contract between `harbinger-agent` and `harbinger-collector`.
//!
//! Everything both sides must agree on lives here and nowhere else:
//! the versioned wire protocol ([`wire`]), the metric catalogue ([`catalogue`]),
//! event kinds and severities ([`event`]) and component identities ([`component`]).
//! Agent-internal and collector-internal types are never serialized to the wire.
//! The protocol is described for humans in `docs/protocol.md`.

pub mod catalogue;
pub mod component;
pub mod event;
pub mod wire;

pub use component::{ComponentId, ComponentKind};
pub use event::{Event, EventKind, Severity};
pub use wire::{
    AgentIdentity, Batch, DecodeError, IngestAck, InventoryItem, Point, Series, PROTOCOL_VERSION,
};
