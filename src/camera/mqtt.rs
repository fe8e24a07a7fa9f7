//! The MQTT sink: every result and error record as a JSON message on a topic (QoS 0, not
//! retained), for home-automation hubs and dashboards. Publishing never blocks the loop: when
//! the broker is away, messages wait in a bounded queue and then count as sink errors; the
//! client reconnects on its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

use super::{Record, Sink};

/// Where to publish: `mqtt://HOST[:PORT]/TOPIC` (port 1883 by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTarget {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Topic of the records.
    pub topic: String,
}

impl std::str::FromStr for MqttTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("MQTT target {s:?}: {why} (mqtt://HOST[:PORT]/TOPIC)");
        let rest = s
            .strip_prefix("mqtt://")
            .ok_or_else(|| bad("not mqtt://"))?;
        let (authority, topic) = rest.split_once('/').ok_or_else(|| bad("no topic"))?;
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(bad("the topic must be non-empty, without wildcards"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
            None => (authority, 1883),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(MqttTarget {
            host: host.into(),
            port,
            topic: topic.into(),
        })
    }
}

/// Counts kept by the MQTT sink's connection thread.
#[derive(Debug, Default)]
pub struct MqttStats {
    /// Connections acknowledged by the broker.
    pub connects: AtomicU64,
    /// Connection errors (broker unreachable, connection lost).
    pub connection_errors: AtomicU64,
}

/// The MQTT sink. Created with [`Mqtt::connect`]; connects in the background.
pub struct Mqtt {
    client: Client,
    topic: String,
    stop: Arc<AtomicBool>,
    stats: Arc<MqttStats>,
    thread: Option<JoinHandle<()>>,
    payload: Vec<u8>,
}

impl Mqtt {
    /// A sink publishing to `target` as client `client_id`, with `queue` messages of room
    /// while the broker is unreachable.
    pub fn connect(target: &MqttTarget, client_id: &str, queue: usize) -> std::io::Result<Mqtt> {
        let mut options = MqttOptions::new(client_id, target.host.clone(), target.port);
        options.set_keep_alive(Duration::from_secs(10));
        let (client, mut connection) = Client::new(options, queue.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(MqttStats::default());
        let (stop_t, stats_t) = (Arc::clone(&stop), Arc::clone(&stats));
        let thread = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || {
                while !stop_t.load(Ordering::SeqCst) {
                    match connection.recv_timeout(Duration::from_millis(200)) {
                        Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                            stats_t.connects.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
                        Ok(Err(_)) => {
                            stats_t.connection_errors.fetch_add(1, Ordering::Relaxed);
                            // rumqttc reconnects on the next poll: pace the attempts
                            std::thread::sleep(Duration::from_millis(500));
                        }
                        Err(rumqttc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        Ok(Mqtt {
            client,
            topic: target.topic.clone(),
            stop,
            stats,
            thread: Some(thread),
            payload: Vec::with_capacity(512),
        })
    }

    /// The connection counts (shared with the connection thread).
    pub fn stats(&self) -> Arc<MqttStats> {
        Arc::clone(&self.stats)
    }
}

impl Sink for Mqtt {
    fn publish(&mut self, record: &Record) -> std::io::Result<()> {
        if let Record::Dropped { .. } = record {
            return Ok(());
        }
        self.payload.clear();
        serde_json::to_writer(&mut self.payload, record)?;
        self.client
            .try_publish(
                self.topic.as_str(),
                QoS::AtMostOnce,
                false,
                self.payload.as_slice(),
            )
            .map_err(|e| std::io::Error::other(format!("MQTT: {e}")))
    }

    fn finish(&mut self) -> std::io::Result<()> {
        // let queued messages go out (briefly), then disconnect
        let _ = self.client.try_disconnect();
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Ok(())
    }
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_into_host_port_and_topic() {
        let t: MqttTarget = "mqtt://hub.local:1884/home/camera".parse().unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.topic.as_str()),
            ("hub.local", 1884, "home/camera")
        );
        let t: MqttTarget = "mqtt://10.0.0.2/incept".parse().unwrap();
        assert_eq!(t.port, 1883);
        for bad in [
            "http://h/t",
            "mqtt://h",
            "mqtt://h/",
            "mqtt://:1883/t",
            "mqtt://h:x/t",
            "mqtt://h/a/#",
        ] {
            assert!(bad.parse::<MqttTarget>().is_err(), "{bad}");
        }
    }
}
