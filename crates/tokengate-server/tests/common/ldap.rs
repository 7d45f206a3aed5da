//! A real OpenLDAP server (slapd) for the directory tests: its own folder, free loopback ports
//! for `ldap://` (StartTLS offered) and `ldaps://`, a test CA and server certificate, and two
//! seeded trees. `dc=example,dc=com` runs the memberof overlay (users carry `memberOf`);
//! `dc=plain,dc=test` has none, so its groups are found by searching for members. Killed by
//! its own process id when dropped. Without slapd the tests are skipped, except under CI.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::proxies::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokengate_server::config::ldap::LdapConfig;

pub const EXAMPLE: &str = "dc=example,dc=com";
pub const PLAIN: &str = "dc=plain,dc=test";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
pub const ROOT_PASSWORD: &str = "root-pw";
pub const SERVICE_DN: &str = "cn=tokengate,ou=services,dc=example,dc=com";
pub const SERVICE_PASSWORD: &str = "service-pw";
/// A service account the directory answers at most 2 entries, paged or not.
pub const LIMITED_DN: &str = "cn=limited,ou=services,dc=example,dc=com";

/// The slapd binary, or `None` with a line saying the test is skipped. Under `CI=true` a
/// missing slapd fails the test: CI installs it.
pub fn slapd_binary() -> Option<PathBuf> {
    let found = super::proxies::installed(&["/usr/sbin/slapd", "/usr/local/sbin/slapd"]);
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "slapd is not installed, and CI must run the directory tests (apt-get install slapd ldap-utils)"
        );
        eprintln!("skipped: slapd not installed (apt-get install slapd ldap-utils)");
    }
    found
}

pub struct Slapd {
    child: Child,
    /// `ldap://127.0.0.1:{port}/`, with StartTLS.
    pub port: u16,
    /// `ldaps://127.0.0.1:{tls_port}/`.
    pub tls_port: u16,
    /// PEM of the CA that signed the server's certificate (for `localhost` and `127.0.0.1`).
    pub ca_file: String,
    dir: tempfile::TempDir,
}

impl Slapd {
    /// A seeded slapd, or `None` (skipped) when slapd is not installed.
    pub fn start() -> Option<Self> {
        let binary = slapd_binary()?;
        // Free ports are found by binding and letting go: another test may take one in
        // between, and then slapd exits at once. Three tries with new ports.
        for _ in 0..2 {
            if let Some(slapd) = Self::try_start(&binary) {
                return Some(slapd);
            }
        }
        Some(Self::try_start(&binary).unwrap_or_else(|| panic!("slapd did not start three times")))
    }

    fn try_start(binary: &std::path::Path) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ca_file = write_certificates(dir.path());
        write_config(dir.path());
        let (port, tls_port) = (free_port(), free_port());
        let listeners = format!("ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/");
        let log = std::fs::File::create(dir.path().join("slapd.log")).unwrap();
        let child = Command::new(binary)
            .arg("-f")
            .arg(dir.path().join("slapd.conf"))
            .args(["-h", &listeners, "-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut slapd = Self {
            child,
            port,
            tls_port,
            ca_file,
            dir,
        };
        if !slapd.wait_until_listening() {
            return None;
        }
        slapd.add(&seed_ldif());
        Some(slapd)
    }

    /// `false` when slapd exited at start-up (a port was taken).
    fn wait_until_listening(&mut self) -> bool {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_err()
        {
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!("slapd exited at start-up: {status}\n{}", self.log());
                return false;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "slapd did not start\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Adds the entries of `ldif` as the root DN (with `ldapadd`).
    pub fn add(&self, ldif: &str) {
        let file = self.dir.path().join("add.ldif");
        std::fs::write(&file, ldif).unwrap();
        self.ldap_tool("ldapadd", &["-f", &file.display().to_string()]);
    }

    /// Deletes the entry `dn` as the root DN (with `ldapdelete`).
    pub fn delete(&self, dn: &str) {
        self.ldap_tool("ldapdelete", &[dn]);
    }

    fn ldap_tool(&self, tool: &str, args: &[&str]) {
        let output = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PASSWORD])
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("{tool} (ldap-utils) cannot run: {error}"));
        assert!(
            output.status.success(),
            "{tool} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }

    /// Kills slapd (by its own process id): the directory is down.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops slapd without closing its sockets (SIGSTOP): connections are accepted by the
    /// kernel but nothing answers.
    pub fn freeze(&self) {
        let status = Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The client configuration for the `example` tree over plain `ldap://` on loopback.
    pub fn config(&self) -> LdapConfig {
        LdapConfig {
            url: self.url(),
            bind_dn: SERVICE_DN.into(),
            bind_password: Some(SERVICE_PASSWORD.into()),
            user_base: format!("ou=people,{EXAMPLE}"),
            group_base: format!("ou=groups,{EXAMPLE}"),
            admin_group: "tokengate-admins".into(),
            ..LdapConfig::default()
        }
    }

    /// The client configuration for the `plain` tree (no `memberOf`; groups by search).
    pub fn plain_config(&self) -> LdapConfig {
        LdapConfig {
            user_base: format!("ou=people,{PLAIN}"),
            group_base: format!("ou=groups,{PLAIN}"),
            admin_group: "plain-admins".into(),
            ..self.config()
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A test CA and a server certificate it signed for `localhost` and `127.0.0.1`; returns the
/// CA's PEM file.
fn write_certificates(dir: &Path) -> String {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tokengate test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let server = server_params.signed_by(&server_key, &ca).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    ca_file.display().to_string()
}

/// Active Directory's `userAccountControl`, so the tests can mark an account disabled.
const AD_SCHEMA: &str = "\
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.1 NAME 'adAccountControl' AUXILIARY
    MAY userAccountControl )
";

fn write_config(dir: &Path) {
    std::fs::write(dir.join("ad.schema"), AD_SCHEMA).unwrap();
    let d = dir.display();
    let mut config = format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include {d}/ad.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
# Like some directories in the field, accept a DN with an empty password as an anonymous
# (unauthenticated) bind: a client that sent one would let anybody in.
allow bind_anon_dn
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
"
    );
    for (suffix, folder, overlay) in [(EXAMPLE, "example", true), (PLAIN, "plain", false)] {
        std::fs::create_dir(dir.join(folder)).unwrap();
        config.push_str(&format!(
            "
database mdb
suffix \"{suffix}\"
rootdn \"cn=admin,{suffix}\"
rootpw {ROOT_PASSWORD}
directory {d}/{folder}
maxsize 16777216
limits dn.exact=\"{SERVICE_DN}\" size.soft=500 size.hard=500 size.prtotal=unlimited
limits dn.exact=\"{LIMITED_DN}\" size.soft=2 size.hard=2 size.prtotal=2
access to attrs=userPassword by dn.exact=\"{ROOT_DN}\" write by anonymous auth by * none
access to * by dn.exact=\"{ROOT_DN}\" write by users read by * none
{}",
            if overlay { "overlay memberof\n" } else { "" }
        ));
    }
    std::fs::write(dir.join("slapd.conf"), config).unwrap();
}

fn seed_ldif() -> String {
    let person = |dn: &str, uid: &str, cn: &str, extra: &str| {
        format!(
            "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {uid}\n\
             userPassword: {uid}-pw\n{extra}\n"
        )
    };
    let group = |dn: &str, cn: &str, members: &[&str]| {
        let members: String = members.iter().map(|m| format!("member: {m}\n")).collect();
        format!("dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\n{members}\n")
    };
    let example = |rdn: &str| format!("{rdn},ou=people,{EXAMPLE}");
    let plain = |rdn: &str| format!("{rdn},ou=people,{PLAIN}");
    let mut ldif = String::new();
    for (suffix, name) in [(EXAMPLE, "example"), (PLAIN, "plain")] {
        ldif.push_str(&format!(
            "dn: {suffix}\nobjectClass: dcObject\nobjectClass: organization\no: {name}\ndc: {name}\n\n"
        ));
        for unit in ["people", "groups", "services"] {
            ldif.push_str(&format!(
                "dn: ou={unit},{suffix}\nobjectClass: organizationalUnit\nou: {unit}\n\n"
            ));
        }
    }
    for (dn, cn, password) in [
        (SERVICE_DN, "tokengate", SERVICE_PASSWORD),
        (LIMITED_DN, "limited", "limited-pw"),
    ] {
        ldif.push_str(&format!(
            "dn: {dn}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n\
             cn: {cn}\nuserPassword: {password}\n\n"
        ));
    }
    // The example tree (memberOf kept by the overlay).
    let (alice, bob) = (example("uid=alice"), example("uid=bob"));
    let dave = example("cn=Dave\\, Jr. (QA)");
    ldif.push_str(&person(
        &alice,
        "alice",
        "Alice Liddell",
        "mail: alice@example.com\n",
    ));
    ldif.push_str(&person(&bob, "bob", "Bob Builder", ""));
    ldif.push_str(&person(
        &example("uid=carol"),
        "carol",
        "Carol Cooper",
        "displayName: Carol C.\nmail: carol@example.com\n",
    ));
    ldif.push_str(&person(&dave, "dave", "Dave, Jr. (QA)", ""));
    ldif.push_str(&person(
        &example("uid=eve"),
        "eve",
        "Eve Disabled",
        "objectClass: adAccountControl\nuserAccountControl: 514\n",
    ));
    ldif.push_str(&person(
        &example("uid=frank"),
        "frank",
        "Frank Enabled",
        "objectClass: adAccountControl\nuserAccountControl: 512\n",
    ));
    // Two entries under user_base with one name.
    ldif.push_str(&format!(
        "dn: {}\nobjectClass: organizationalUnit\nou: contractors\n\n",
        example("ou=contractors")
    ));
    for twin in ["uid=twin", "uid=twin,ou=contractors"] {
        ldif.push_str(&person(&example(twin), "twin", "Twin", ""));
    }
    // Two entries whose names differ only in case (the directory finds both for "kim").
    ldif.push_str(&person(&example("uid=kim"), "kim", "Kim", ""));
    ldif.push_str(&person(
        &example("uid=KIM,ou=contractors"),
        "KIM",
        "KIM",
        "",
    ));
    // A name that is no tokengate user name (a space), found by its mail.
    ldif.push_str(&person(
        &example("uid=jo smith"),
        "jo smith",
        "Jo Smith",
        "mail: jo@example.com\n",
    ));
    // Right password, wrong kind of entry: outside the filter.
    ldif.push_str(&format!(
        "dn: {}\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: robot\n\
         userPassword: robot-pw\n\n",
        example("uid=robot")
    ));
    let groups = |cn: &str| format!("cn={cn},ou=groups,{EXAMPLE}");
    ldif.push_str(&group(
        &groups("tokengate-admins"),
        "tokengate-admins",
        &[&alice],
    ));
    ldif.push_str(&group(
        &groups("developers"),
        "developers",
        &[&alice, &bob, &dave],
    ));
    ldif.push_str(&group(&groups("Smith\\, John"), "Smith, John", &[&dave]));
    // The plain tree (no memberOf): groupOfNames, groupOfUniqueNames and posixGroup.
    let (gina, ivy) = (plain("uid=gina"), plain("cn=Ivy (QA)\\, Team*"));
    ldif.push_str(&person(
        &gina,
        "gina",
        "Gina Plain",
        "mail: gina@plain.test\n",
    ));
    ldif.push_str(&person(&plain("uid=hank"), "hank", "Hank Posix", ""));
    ldif.push_str(&person(&ivy, "ivy", "Ivy (QA), Team*", ""));
    let plain_group = |cn: &str| format!("cn={cn},ou=groups,{PLAIN}");
    ldif.push_str(&group(
        &plain_group("plain-admins"),
        "plain-admins",
        &[&gina],
    ));
    ldif.push_str(&group(&plain_group("qa"), "qa", &[&ivy, &gina]));
    ldif.push_str(&format!(
        "dn: {}\nobjectClass: groupOfUniqueNames\ncn: reviewers\nuniqueMember: {gina}\n\n",
        plain_group("reviewers")
    ));
    ldif.push_str(&format!(
        "dn: {}\nobjectClass: posixGroup\ncn: operators\ngidNumber: 5000\nmemberUid: hank\n\n",
        plain_group("operators")
    ));
    ldif
}
