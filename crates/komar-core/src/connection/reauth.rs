//! Re-authentication (§4.12.1): a client that authenticated with an
//! enhanced method may start the exchange again at any time with AUTH
//! "Re-authenticate" (0x19); the broker answers AUTH "Continue" (0x18) as
//! long as the method needs, then AUTH "Success", or closes the connection
//! if the client no longer authenticates.

use super::*;
use crate::auth::AuthStep;
use crate::connect::auth_packet;

impl Connection {
    pub(super) fn handle_auth(
        &mut self,
        out: &mut OutBuf,
        a: komar_proto::Auth,
    ) -> Result<(), Closed> {
        // [MQTT-4.12.0-7] AUTH without an method in CONNECT, or
        // [MQTT-4.12.1-1] with another method, is a Protocol Error.
        let Some(method) = self.rare.as_ref().and_then(|r| r.auth_method.clone()) else {
            return Err(self.protocol_error(out, ReasonCode::PROTOCOL_ERROR));
        };
        if a.properties.authentication_method.as_deref() != Some(method.as_str()) {
            return Err(self.protocol_error(out, ReasonCode::PROTOCOL_ERROR));
        }
        let data = a.properties.authentication_data.unwrap_or_default();
        let step = match (a.reason_code, self.rare().reauth.take()) {
            (ReasonCode::RE_AUTHENTICATE, None) => {
                match self.broker.authenticator.start_enhanced(
                    self.identity.listener,
                    &method,
                    &data,
                ) {
                    Some(step) => step,
                    None => {
                        return Err(self.protocol_error(out, ReasonCode::BAD_AUTHENTICATION_METHOD))
                    }
                }
            }
            (ReasonCode::CONTINUE_AUTHENTICATION, Some(exchange)) => exchange.step(&data),
            _ => return Err(self.protocol_error(out, ReasonCode::PROTOCOL_ERROR)),
        };
        match step {
            AuthStep::Continue(data, exchange) => {
                self.rare().reauth = Some(exchange);
                let auth = auth_packet(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    &method,
                    Some(data),
                    None,
                );
                self.send(out, &Packet::Auth(auth));
                Ok(())
            }
            AuthStep::Success { data, .. } => {
                let auth = auth_packet(ReasonCode::SUCCESS, &method, data, None);
                self.send(out, &Packet::Auth(auth));
                Ok(())
            }
            AuthStep::Fail(code, text) => {
                tracing::info!(target: "komar::notice", "Client {} failed re-authentication: {text}", self.identity.client_id);
                Err(self.close_with(CloseReason::Administrative(code), Some(text), out))
            }
        }
    }
}
