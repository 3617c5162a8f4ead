//! Outgoing QoS 1 and 2 messages sent and not yet acknowledged, by packet
//! identifier, with the order they were sent in (for re-sending on
//! reconnect [MQTT-4.4.0-1]).

use std::collections::HashMap;

use foldhash::fast::RandomState;
use komar_proto::PacketId;

use crate::message::Delivery;

/// Where an outgoing QoS 1/2 message is in its acknowledgement flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitPubRec,
    /// PUBREL sent, waiting for PUBCOMP (the message itself is delivered).
    AwaitPubComp,
}

/// One message in flight.
#[derive(Debug, Clone)]
pub struct OutEntry {
    /// What was sent.
    pub delivery: Delivery,
    /// Acknowledgement state.
    pub state: OutState,
    /// Send order.
    pub seq: u64,
}

type Map = HashMap<u16, OutEntry, RandomState>;

/// The in-flight window of one session.
#[derive(Debug)]
pub struct Inflight {
    /// Boxed on the first message: a session that never sends at QoS 1/2
    /// (and every idle one before it does) pays one pointer, not an empty
    /// 40-byte map.
    map: Option<Box<Map>>,
    next_pid: u16,
    seq: u64,
    bytes: usize,
}

impl Default for Inflight {
    fn default() -> Self {
        Inflight {
            map: None,
            next_pid: 1,
            seq: 0,
            bytes: 0,
        }
    }
}

impl Inflight {
    /// Messages in flight.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map_mut(&mut self) -> &mut Map {
        self.map.get_or_insert_with(Box::default)
    }

    fn entries(&self) -> impl Iterator<Item = (&u16, &OutEntry)> {
        self.map.iter().flat_map(|m| m.iter())
    }

    /// Payload bytes in flight (for `max_inflight_bytes`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Reserve a free packet identifier; `None` if all 65,535 are in use.
    pub fn alloc_id(&mut self) -> Option<PacketId> {
        for _ in 0..=u16::MAX {
            let candidate = PacketId::new(self.next_pid);
            self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
            if let Some(pid) = candidate {
                if !self
                    .map
                    .as_ref()
                    .is_some_and(|m| m.contains_key(&pid.get()))
                {
                    return Some(pid);
                }
            }
        }
        None
    }

    /// Record a message sent with `pid`; returns its send order.
    pub fn insert(&mut self, pid: PacketId, delivery: Delivery, state: OutState) -> u64 {
        self.seq += 1;
        self.bytes += delivery.cost();
        let seq = self.seq;
        if let Some(old) = self.map_mut().insert(
            pid.get(),
            OutEntry {
                delivery,
                state,
                seq,
            },
        ) {
            self.bytes -= old.delivery.cost();
        }
        self.seq
    }

    /// The entry for `pid`.
    pub fn get_mut(&mut self, pid: PacketId) -> Option<&mut OutEntry> {
        self.map.as_mut()?.get_mut(&pid.get())
    }

    /// Remove and return the entry for `pid`.
    pub fn remove(&mut self, pid: PacketId) -> Option<OutEntry> {
        let e = self.map.as_mut()?.remove(&pid.get())?;
        self.bytes -= e.delivery.cost();
        Some(e)
    }

    /// Entries in the order they were first sent.
    pub fn in_send_order(&self) -> Vec<(PacketId, OutEntry)> {
        let mut v: Vec<(PacketId, OutEntry)> = self
            .entries()
            .filter_map(|(k, e)| PacketId::new(*k).map(|p| (p, e.clone())))
            .collect();
        v.sort_by_key(|(_, e)| e.seq);
        v
    }

    /// Take out the deliveries of every entry `pred` selects, in send
    /// order, with the packet ids they had.
    pub fn take_where(
        &mut self,
        mut pred: impl FnMut(&OutEntry) -> bool,
    ) -> Vec<(PacketId, Delivery)> {
        let ids: Vec<u16> = self
            .entries()
            .filter(|(_, e)| pred(e))
            .map(|(k, _)| *k)
            .collect();
        let Some(map) = self.map.as_mut() else {
            return Vec::new();
        };
        let mut taken: Vec<(u64, PacketId, Delivery)> = ids
            .into_iter()
            .filter_map(|k| Some((PacketId::new(k)?, map.remove(&k)?)))
            .map(|(pid, e)| {
                self.bytes -= e.delivery.cost();
                (e.seq, pid, e.delivery)
            })
            .collect();
        taken.sort_by_key(|(seq, _, _)| *seq);
        taken.into_iter().map(|(_, pid, d)| (pid, d)).collect()
    }

    /// Forget everything (clean start).
    pub fn clear(&mut self) {
        self.map = None;
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_skip_those_in_use_and_wrap() {
        let mut f = Inflight::default();
        let a = f.alloc_id().unwrap();
        assert_eq!(a.get(), 1);
        f.next_pid = u16::MAX;
        let b = f.alloc_id().unwrap();
        assert_eq!(b.get(), u16::MAX);
        assert_eq!(f.alloc_id().unwrap().get(), 1);
    }
}
