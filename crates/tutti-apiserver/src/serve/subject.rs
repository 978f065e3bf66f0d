//! Reading the subject (CN and O entries) of a client certificate the TLS layer verified.

use x509_parser::prelude::{FromDer, X509Certificate};

/// (common name, organizations) of a DER certificate.
pub fn parse(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let orgs = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some((cn, orgs))
}
