//! The MQTT sink against a real mosquitto broker on 127.0.0.1, started by the test (Debian's
//! `mosquitto`; `.ci/install` installs it), and with no broker at all.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inception_edge::camera::mqtt::{Mqtt, MqttTarget};
use inception_edge::camera::sources::Replay;
use inception_edge::camera::{self, LoopConfig, Sink};
use inception_edge::Classifier;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// A mosquitto process on its own port, killed on drop.
struct Broker(Child, u16);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn broker() -> Broker {
    let bin = std::env::var("MOSQUITTO").unwrap_or_else(|_| "/usr/sbin/mosquitto".into());
    assert!(
        std::path::Path::new(&bin).exists(),
        "this test needs Debian's mosquitto (.ci/install installs it)"
    );
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // the config file may go once the broker has read it
    drop(dir);
    Broker(child, port)
}

fn run_with(sink: Mqtt, frames: u64) -> camera::Summary {
    let mut source = Replay::open(&common::data("fmnist"), 0.0, true, None).unwrap();
    let mut classifier = Classifier::from_manifest(common::mini_manifest()).unwrap();
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink)];
    let config = LoopConfig {
        queue: 64,
        max_frames: Some(frames),
        ..LoopConfig::default()
    };
    let stop = AtomicBool::new(false);
    camera::run(
        &mut source,
        &mut classifier,
        &mut sinks,
        &config,
        &stop,
        &mut |_| {},
    )
}

#[test]
fn every_result_reaches_a_subscriber_through_a_real_broker() {
    let broker = broker();
    // a subscriber, subscribed before the loop starts
    let (client, mut conn) = Client::new(MqttOptions::new("test-sub", "127.0.0.1", broker.1), 64);
    client.subscribe("incept/test", QoS::AtMostOnce).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Ok(Event::Incoming(Packet::SubAck(_)))) =
            conn.recv_timeout(Duration::from_millis(200))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no SUBACK");
    }
    let received = std::thread::spawn(move || {
        let mut messages = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while messages.len() < 20 && Instant::now() < deadline {
            if let Ok(Ok(Event::Incoming(Packet::Publish(p)))) =
                conn.recv_timeout(Duration::from_millis(200))
            {
                messages.push(serde_json::from_slice::<serde_json::Value>(&p.payload).unwrap());
            }
        }
        messages
    });
    let target: MqttTarget = format!("mqtt://127.0.0.1:{}/incept/test", broker.1)
        .parse()
        .unwrap();
    let sink = Mqtt::connect(&target, "test-pub", 256).unwrap();
    let stats = sink.stats();
    // give the client its connection before the first record
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.connects.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the sink did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }
    let s = run_with(sink, 20);
    assert_eq!(
        (s.stats.results, s.stats.sink_errors),
        (20, 0),
        "{:?}",
        s.stats
    );
    let messages = received.join().unwrap();
    assert_eq!(messages.len(), 20);
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m["record"], "result", "{m}");
        assert_eq!(m["seq"], i as u64, "{m}");
        assert_eq!(m["top"].as_array().unwrap().len(), 3, "{m}");
    }
}

#[test]
fn without_a_broker_the_loop_runs_on_and_counts_what_could_not_be_sent() {
    let target: MqttTarget = format!("mqtt://127.0.0.1:{}/incept/test", free_port())
        .parse()
        .unwrap();
    // room for 5 messages: the rest are sink errors, and the loop is not slowed
    let sink = Mqtt::connect(&target, "test-nobroker", 5).unwrap();
    let stats = sink.stats();
    let t = Instant::now();
    let s = run_with(sink, 30);
    assert!(s.stats.accounted());
    assert_eq!(s.stats.results, 30);
    assert!(s.stats.sink_errors >= 20, "{:?}", s.stats);
    assert!(stats.connection_errors.load(Ordering::Relaxed) >= 1);
    assert_eq!(stats.connects.load(Ordering::Relaxed), 0);
    assert!(t.elapsed() < Duration::from_secs(20));
}
