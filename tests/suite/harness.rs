//! The suite's test harness: libtest-mimic, with each test's requirements checked before the
//! run, so that a test this machine or build cannot run is reported as ignored with the reason,
//! in the summary `cargo test` prints, instead of passing without doing anything.
//!
//! A test is registered with [`test!`], with the requirements it has:
//!
//! ```ignore
//! test!(smoke_config_learns_real_mnist_and_repeats_exactly, MNIST),
//! test!(feature = "wgpu", wgpu::runs_resume_across_flex_and_wgpu, wgpu::ADAPTER),
//! ```
//!
//! and shows, where MNIST is nowhere to be found, as
//!
//! ```text
//! test train::smoke_config_learns_real_mnist_and_repeats_exactly ... ignored (no MNIST: ...)
//! ```
//!
//! Under CI (`CI` set), a requirement that CI provides (MNIST, the interop Python, Chromium)
//! fails the test with the same reason instead; one that CI meets in another build or not at all
//! (a backend feature, PyTorch) is ignored there too.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Something a test needs that this machine or this build may lack.
#[derive(Clone, Copy)]
pub struct Requirement {
    /// What it is, short: the key under which its check is remembered for the run.
    name: &'static str,
    /// `Ok` where it is present, else why not and how to get it.
    check: fn() -> Result<(), String>,
    /// CI provides it: missing under CI, the test fails instead of being ignored.
    ci_provides: bool,
}

impl Requirement {
    /// Something CI provides (.ci/run installs it): missing here, the test is ignored; missing
    /// under CI, it fails.
    pub const fn provided_by_ci(name: &'static str, check: fn() -> Result<(), String>) -> Self {
        Self {
            name,
            check,
            ci_provides: true,
        }
    }

    /// Something CI may lack too, for a reason (a backend feature its default build leaves out,
    /// a gigabyte wheel, a hardware GPU): missing, the test is ignored everywhere.
    pub const fn optional(name: &'static str, check: fn() -> Result<(), String>) -> Self {
        Self {
            name,
            check,
            ci_provides: false,
        }
    }
}

/// A test of the suite: its name (`module::function`), its body and what it needs.
pub struct Test {
    name: String,
    body: fn(),
    needs: Vec<Requirement>,
}

impl Test {
    /// A test named `path` (`module_path!()` and the function's path), without the crate's name.
    pub fn new(path: &str, body: fn()) -> Self {
        let path = path.replace(' ', "");
        let name = path.strip_prefix("suite::").unwrap_or(&path).to_string();
        Self {
            name,
            body,
            needs: Vec::new(),
        }
    }

    /// The test, run only where `requirement` is met.
    pub fn needs(mut self, requirement: Requirement) -> Self {
        self.needs.push(requirement);
        self
    }
}

/// Registers a test function: `test!(function, REQUIREMENT, ...)`; or, for a function compiled
/// only with a cargo feature, `test!(feature = "wgpu", module::function, REQUIREMENT, ...)`,
/// which without the feature registers the test all the same, ignored as "built without
/// --features wgpu" (its requirements, compiled with it, are not checked).
macro_rules! test {
    (feature = $feature:literal, $function:path $(, $needs:expr)* $(,)?) => {{
        #[cfg(feature = $feature)]
        let test = $crate::harness::Test::new(
            concat!(module_path!(), "::", stringify!($function)),
            $function,
        )
        $(.needs($needs))*;
        #[cfg(not(feature = $feature))]
        let test = $crate::harness::Test::new(
            concat!(module_path!(), "::", stringify!($function)),
            || unreachable!("ignored: built without the feature"),
        )
        .needs($crate::harness::Requirement::optional(concat!("--features ", $feature), || {
            Err(concat!("built without --features ", $feature).to_string())
        }));
        test
    }};
    ($function:path $(, $needs:expr)* $(,)?) => {
        $crate::harness::Test::new(
            concat!(module_path!(), "::", stringify!($function)),
            $function,
        )
        $(.needs($needs))*
    };
}
pub(crate) use test;

/// Whether the run shows what tests print about themselves ([`note!`]): with `--nocapture` or
/// `--show-output`, as libtest showed what a passing test printed.
static SHOW_NOTES: AtomicBool = AtomicBool::new(false);

/// Like `eprintln!`, for what a test says about itself (a measured figure, a report): shown with
/// `-- --nocapture` or `--show-output` only, since libtest-mimic captures nothing and tests run
/// in parallel.
macro_rules! note {
    ($($arg:tt)*) => {
        if $crate::harness::showing_notes() {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use note;

/// See [`note!`].
pub fn showing_notes() -> bool {
    SHOW_NOTES.load(Ordering::Relaxed)
}

/// Runs `tests` as libtest would, with its arguments (a name filter, `--exact`, `--skip`,
/// `--test-threads`, `--list`, `--nocapture`, ...). Each test's requirements are checked
/// first, once each for the whole run and only for the tests the filter selects: a test with a
/// requirement missing is ignored with the reason, or under CI fails with it when CI provides
/// the requirement.
pub fn run(tests: Vec<Test>) -> ExitCode {
    let args = Arguments::from_args();
    SHOW_NOTES.store(args.nocapture || args.show_output, Ordering::Relaxed);
    let under_ci = std::env::var_os("CI").is_some();
    let mut checked: HashMap<&'static str, Result<(), String>> = HashMap::new();
    let trials = tests
        .into_iter()
        .map(|test| {
            let body = test.body;
            let trial = Trial::test(test.name.clone(), move || {
                body();
                Ok(())
            });
            if args.list || args.is_filtered_out(&trial) {
                return trial;
            }
            // What is missing: (CI provides it, why it is missing).
            let mut missing: Vec<(bool, String)> = Vec::new();
            for requirement in &test.needs {
                let check = checked
                    .entry(requirement.name)
                    .or_insert_with(|| (requirement.check)());
                if let Err(reason) = check {
                    missing.push((requirement.ci_provides, reason.clone()));
                }
            }
            if missing.is_empty() {
                return trial;
            }
            // Something CI lacks too ignores the test everywhere, and is the reason given.
            let ignored_everywhere = missing.iter().any(|(ci_provides, _)| !ci_provides);
            let reason = missing
                .into_iter()
                .filter(|(ci_provides, _)| !(ignored_everywhere && *ci_provides))
                .map(|(_, reason)| reason)
                .collect::<Vec<_>>()
                .join("; ");
            if under_ci && !ignored_everywhere {
                Trial::test(test.name, move || {
                    Err(Failed::from(format!("cannot run under CI: {reason}")))
                })
            } else {
                Trial::ignorable_test(test.name, move || Ok(Completion::ignored_with(reason)))
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
