//! The front door's caps (issue 15): how many client connections the MySQL port holds, how
//! many sessions one user holds, how fast one IP may fail to log in, and the TCP keepalive
//! every socket gets.
//!
//! Counts are RAII slots: a [`ClientSlot`] lives as long as the connection's task, a
//! [`UserSlot`] as long as the session's login, so no error path can leak a count. The
//! failed-login throttle is a token bucket per IP (MariaDB's `max_connect_errors` is the
//! model, but a bucket refills by itself instead of waiting for `FLUSH HOSTS`): each failure
//! takes a token, an IP with none left is refused with 1129 before its password is even
//! checked, so parallel connections cannot multiply the guesses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::LimitsConfig;

/// IPs the throttle remembers at most; past it, IPs whose bucket has refilled are forgotten
/// (a flood from many addresses cannot grow the table without bound).
const THROTTLE_MAX_IPS: usize = 65_536;

/// The caps shared by every connection of one proxy.
#[derive(Debug)]
pub struct Limits {
    config: LimitsConfig,
    /// Open client connections on the MySQL port (logged in or not).
    open: AtomicUsize,
    /// Logged-in sessions per user (entries at zero are removed).
    users: Mutex<HashMap<String, usize>>,
    /// Failed logins per client IP.
    throttle: LoginThrottle,
    /// Connections refused, per [`Refusal`] (exported as a counter per reason).
    refused: [AtomicU64; Refusal::ALL.len()],
}

/// Why the front door refused a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_client_connections` sockets were open (1040).
    MaxClientConnections,
    /// The user held `max_user_connections` sessions (1203).
    MaxUserConnections,
    /// The client's IP ran out of failed logins (1129).
    HostBlocked,
}

impl Refusal {
    /// Every reason, in export order.
    pub const ALL: [Refusal; 3] = [
        Refusal::MaxClientConnections,
        Refusal::MaxUserConnections,
        Refusal::HostBlocked,
    ];

    /// The metric label of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MaxClientConnections => "max_client_connections",
            Refusal::MaxUserConnections => "max_user_connections",
            Refusal::HostBlocked => "host_blocked",
        }
    }
}

/// One open client connection, counted until dropped.
#[derive(Debug)]
pub struct ClientSlot {
    limits: Arc<Limits>,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One logged-in session of a user, counted until dropped.
#[derive(Debug)]
pub struct UserSlot {
    limits: Arc<Limits>,
    user: String,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut users = self.limits.lock_users();
        if let Some(n) = users.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                users.remove(&self.user);
            }
        }
    }
}

impl Limits {
    /// Caps as configured (validated).
    pub fn new(config: LimitsConfig) -> Arc<Self> {
        let throttle = LoginThrottle::new(
            config.login_failures_burst,
            config.login_failures_per_minute,
        );
        Arc::new(Self {
            config,
            open: AtomicUsize::new(0),
            users: Mutex::new(HashMap::new()),
            throttle,
            refused: Default::default(),
        })
    }

    /// The configuration these caps enforce.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Counts a new client connection; None when `max_client_connections` are open (the
    /// caller answers 1040 and closes).
    pub fn admit_client(self: &Arc<Self>) -> Option<ClientSlot> {
        let max = self.config.max_client_connections;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| self.count_refusal(Refusal::MaxClientConnections))
            .ok()
            .map(|_| ClientSlot {
                limits: Arc::clone(self),
            })
    }

    /// Counts a logged-in session of `user`; None when the user holds
    /// `max_user_connections` sessions (the caller answers 1203).
    pub fn admit_user(self: &Arc<Self>, user: &str) -> Option<UserSlot> {
        let max = self.config.max_user_connections;
        let mut users = self.lock_users();
        let n = users.entry(user.to_owned()).or_insert(0);
        if max > 0 && *n >= max {
            drop(users);
            self.count_refusal(Refusal::MaxUserConnections);
            return None;
        }
        *n += 1;
        Some(UserSlot {
            limits: Arc::clone(self),
            user: user.to_owned(),
        })
    }

    /// Open client connections on the MySQL port, logged in or not (`SHOW STATUS`-like
    /// figure for the admin side and for tests that watch connections being released).
    pub fn open_clients(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// The failed-login throttle.
    pub fn throttle(&self) -> &LoginThrottle {
        &self.throttle
    }

    /// Whether `ip` is refused by the failed-login throttle (1129); a refusal is counted.
    pub fn host_blocked(&self, ip: IpAddr) -> bool {
        let blocked = self.throttle.blocked(ip);
        if blocked {
            self.count_refusal(Refusal::HostBlocked);
        }
        blocked
    }

    /// Connections refused for `reason` since start.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason as usize].load(Ordering::Relaxed)
    }

    fn count_refusal(&self, reason: Refusal) {
        self.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn lock_users(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A token bucket of failed logins per client IP.
#[derive(Debug)]
pub struct LoginThrottle {
    /// Tokens a bucket holds when full (0: throttling off).
    burst: f64,
    /// Tokens earned back per second.
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl LoginThrottle {
    /// A throttle allowing `burst` failures at once and `per_minute` more each minute.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst),
            per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// True when `ip` has no failed login left: refuse it (1129) without checking a password.
    pub fn blocked(&self, ip: IpAddr) -> bool {
        self.blocked_at(ip, Instant::now())
    }

    /// Takes one token from `ip`'s bucket for a failed login.
    pub fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now());
    }

    fn blocked_at(&self, ip: IpAddr, now: Instant) -> bool {
        if self.burst == 0.0 {
            return false;
        }
        let buckets = self.lock();
        buckets
            .get(&ip)
            .is_some_and(|b| self.refilled(b, now) < 1.0)
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        if self.burst == 0.0 {
            return;
        }
        let mut buckets = self.lock();
        if buckets.len() >= THROTTLE_MAX_IPS && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| self.refilled(b, now) < self.burst);
            if buckets.len() >= THROTTLE_MAX_IPS {
                return;
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(bucket, now);
        *bucket = Bucket {
            tokens: (tokens - 1.0).max(0.0),
            at: now,
        };
    }

    /// The bucket's tokens at `now`, capped at the burst.
    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_sec).min(self.burst)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Turns TCP keepalive on for `socket` with `idle` before the first probe (None: leaves the
/// socket as it is), so a peer that vanished without FIN or RST (a cable, a NAT timeout, a
/// killed VM) is found by the kernel instead of holding the session forever.
pub fn set_keepalive<S: std::os::fd::AsFd>(socket: &S, idle: Option<Duration>) {
    let Some(idle) = idle else {
        return;
    };
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval(idle.div_f64(6.0).max(Duration::from_secs(1)))
        .with_retries(5);
    if let Err(e) = socket2::SockRef::from(socket).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "could not set TCP keepalive");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_clients: usize, max_user: usize) -> Arc<Limits> {
        Limits::new(LimitsConfig {
            max_client_connections: max_clients,
            max_user_connections: max_user,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn client_slots_stop_at_the_cap_and_come_back_on_drop() {
        let l = limits(2, 0);
        let a = l.admit_client().expect("first");
        let _b = l.admit_client().expect("second");
        assert!(l.admit_client().is_none());
        assert_eq!(l.open_clients(), 2);
        drop(a);
        assert_eq!(l.open_clients(), 1);
        assert!(l.admit_client().is_some());
    }

    #[test]
    fn refusals_are_counted_per_reason() {
        let l = Limits::new(LimitsConfig {
            max_client_connections: 1,
            max_user_connections: 1,
            login_failures_burst: 1,
            ..LimitsConfig::default()
        });
        let _client = l.admit_client().expect("first client");
        assert!(l.admit_client().is_none());
        assert!(l.admit_client().is_none());
        let _user = l.admit_user("app").expect("first session");
        assert!(l.admit_user("app").is_none());
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert!(!l.host_blocked(ip), "not blocked before a failure");
        l.throttle().failed(ip);
        assert!(l.host_blocked(ip));
        assert_eq!(l.refused(Refusal::MaxClientConnections), 2);
        assert_eq!(l.refused(Refusal::MaxUserConnections), 1);
        assert_eq!(l.refused(Refusal::HostBlocked), 1);
    }

    #[test]
    fn user_slots_are_per_user_and_zero_is_unlimited() {
        let l = limits(10, 1);
        let a = l.admit_user("app").expect("first app");
        assert!(l.admit_user("app").is_none());
        let _other = l.admit_user("other").expect("another user");
        drop(a);
        assert!(l.admit_user("app").is_some());
        let unlimited = limits(10, 0);
        let held: Vec<_> = (0..100)
            .filter_map(|_| unlimited.admit_user("app"))
            .collect();
        assert_eq!(held.len(), 100);
    }

    /// Three failures exhaust a burst of three; time earns them back at the configured rate
    /// (time is injected: no clock is read).
    #[test]
    fn failed_logins_block_an_ip_until_its_bucket_refills() {
        let t = LoginThrottle::new(3, 6);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        let now = Instant::now();
        for _ in 0..3 {
            assert!(!t.blocked_at(ip, now));
            t.failed_at(ip, now);
        }
        assert!(t.blocked_at(ip, now));
        assert!(!t.blocked_at(other, now), "other IPs are not affected");
        // 6 per minute: one token every 10 s.
        assert!(t.blocked_at(ip, now + Duration::from_secs(9)));
        assert!(!t.blocked_at(ip, now + Duration::from_secs(10)));
        t.failed_at(ip, now + Duration::from_secs(10));
        assert!(t.blocked_at(ip, now + Duration::from_secs(10)));
    }

    #[test]
    fn a_zero_burst_turns_throttling_off() {
        let t = LoginThrottle::new(0, 0);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let now = Instant::now();
        for _ in 0..100 {
            t.failed_at(ip, now);
        }
        assert!(!t.blocked_at(ip, now));
    }

    #[test]
    fn keepalive_is_set_on_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let socket =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        set_keepalive(&socket, Some(Duration::from_secs(30)));
        let sock = socket2::SockRef::from(&socket);
        assert!(sock.keepalive().expect("SO_KEEPALIVE"));
        assert_eq!(
            sock.tcp_keepalive_time().expect("TCP_KEEPIDLE"),
            Duration::from_secs(30)
        );
    }
}
