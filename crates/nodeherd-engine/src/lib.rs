//! nodeherd-engine: the use cases, one typed async function each, shared by every front end.
//!
//! Owns: [`status`], [`lifecycle`], [`logs`], [`metrics`] (gathering), [`alerts`] (evaluate and
//! notify), [`keys`] (validator and consensus keys), [`keymanager`] (the API client over a
//! forward), [`upgrade`] (install, guarded switch, gate, rollback, rollout), [`apply`] (running a
//! plan), [`feeds`] (release sources), [`site`] (the site playbook loaded and planned), [`fleet`]
//! (bounded fan-out over hosts), [`record`] (the one writer of journal lines), and (for tests
//! only) `testing`, the scripted fakes of the seams.
//! May not touch: the terminal, argument parsing or output formats (front ends print), and any
//! parsing of host output (that is `nodeherd_core::facts`).

pub mod alerts;
pub mod apply;
pub mod cosmos;
pub mod doctor;
pub mod feeds;
pub mod fleet;
pub mod keymanager;
pub mod keys;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod record;
pub mod site;
pub mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod upgrade;
