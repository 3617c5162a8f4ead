//! What the transport knows about the client before its CONNECT: the
//! address to log (the socket's, or the one a PROXY header carries) and,
//! where the listener says so, the user name a certificate gives it.
//!
//! Mosquitto's rules (`handle_connect.c`, 2.1), which [`Login::apply`]
//! follows:
//! - a TLS listener with `use_identity_as_username` or
//!   `use_subject_as_username`: the CONNECT's user name and password are
//!   dropped, the certificate names the user, and no password check
//!   follows (the certificate is the credential); no usable certificate →
//!   CONNACK "bad user name or password";
//! - a PROXY listener with `use_identity_as_username` and
//!   `require_certificate` (TLS ended at the proxy): the CONNECT's user name
//!   and password are dropped and the commonName the proxy passed on names
//!   the user; the usual authentication then runs (without a password).

use komar_proto::{Connect, ReasonCode};

/// How the CONNECT's credentials are replaced, if they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Login {
    /// The CONNECT's user name and password apply.
    #[default]
    FromConnect,
    /// The verified client certificate names the user (`None`: it gave
    /// no usable name, or there was no certificate).
    Certificate(Option<String>),
    /// A TLS-terminating proxy passed the certificate's commonName.
    Proxy(Option<String>),
}

/// Whether the authenticator still has to be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authenticate {
    /// Ask it, as for any client.
    Yes,
    /// The certificate has authenticated the client already.
    AlreadyDone,
}

impl Login {
    /// Put the transport's user name into `connect`.
    ///
    /// # Errors
    /// The reason code to refuse the client with.
    pub fn apply(&self, connect: &mut Connect) -> Result<Authenticate, ReasonCode> {
        let (name, then) = match self {
            Login::FromConnect => return Ok(Authenticate::Yes),
            Login::Certificate(name) => (name, Authenticate::AlreadyDone),
            Login::Proxy(name) => (name, Authenticate::Yes),
        };
        connect.password = None;
        connect.username = None;
        match name {
            Some(n) => {
                connect.username = Some(n.clone());
                Ok(then)
            }
            None => Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
        }
    }
}

/// The client as the transport sees it.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// Address for logs: `ip:port`, or what the listener is for Unix
    /// sockets.
    pub addr: String,
    /// Credentials the transport imposes.
    pub login: Login,
}

impl Peer {
    /// A peer whose CONNECT carries its own credentials.
    pub fn plain(addr: String) -> Peer {
        Peer {
            addr,
            login: Login::FromConnect,
        }
    }
}
