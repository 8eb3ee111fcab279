//! Wire tests of the client against a bounded loopback responder.
