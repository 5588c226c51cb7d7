//! The books' experiments as data: each config of `configs/` with where it comes from and what
//! its book published, in groups that share a chart. [`crate::books::reproduce`] runs them and
//! compares.
//!
//! A published accuracy is compared as the book reports it: the best over the epochs on the
//! split it names, or network3's test accuracy at the best validation epoch. A figure that the
//! books only draw (the chapter 6 comparisons) becomes a claim about the curves.

/// One experiment: a config of `configs/`, and what its book published.
#[derive(Debug, Clone, Copy)]
pub struct Experiment {
    /// The row's name and its run folder's.
    pub name: &'static str,
    /// The config's file stem in `configs/`; the name, but for an ensemble.
    pub config: &'static str,
    /// For an ensemble, one run per seed (in `<name>/seed-<n>/`), voting at their best
    /// validation epochs; empty for one run with the config's own seed.
    pub seeds: &'static [u64],
    /// Where it comes from: book, chapter, figure.
    pub source: &'static str,
    /// What the book reports.
    pub published: Published,
}

/// A published result.
#[derive(Debug, Clone, Copy)]
pub enum Published {
    /// An accuracy in percent, the best over the epochs on `split`.
    Accuracy {
        /// Test or validation.
        split: Split,
        /// The figure, in percent.
        percent: f64,
    },
    /// A claim read from a figure.
    Claim(Claim),
    /// The test accuracy, in percent, of an ensemble's plurality vote.
    Vote {
        /// The figure, in percent.
        percent: f64,
    },
}

/// Which split a published accuracy was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The 10,000 test images, the best epoch's.
    Test,
    /// The 10,000 held-out training images, the best epoch's.
    Validation,
    /// The test images at the epoch of the best validation accuracy: network3.py's protocol.
    TestAtBestValidation,
}

/// What a figure shows, as something a set of runs can be checked against.
#[derive(Debug, Clone, Copy)]
pub enum Claim {
    /// Its final training loss is the highest of its group.
    SlowestOfGroup,
    /// Its final training loss is below that of the run `name`.
    FasterThan(&'static str),
    /// It does not learn: the final training loss stays near ln 10 ≈ 2.30.
    DoesNotLearn,
    /// Training accuracy reaches 100% (at least 99.5%) while test accuracy stays at least 10
    /// points below.
    Overfits,
    /// The gap between training and test accuracy is smaller than that of the run `name`.
    NarrowsGapOf(&'static str),
}

/// A group of experiments that share a chart.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// The section title.
    pub title: &'static str,
    /// The chart's file stem.
    pub chart: &'static str,
    /// The experiments, in the order they run.
    pub experiments: &'static [Experiment],
    /// Run only when `--only` names it, or with `--quick`: an epoch of a convolutional network
    /// takes tens of seconds on two cores, and a full row hours.
    pub on_request: bool,
}

const NNDL1: &str = "*Neural Networks and Deep Learning*, ch. 1";
const NNDL3: &str = "*Neural Networks and Deep Learning*, ch. 3";
const DLFS5: &str = "*Deep Learning from Scratch*, ch. 5";
const FIG_6_9: &str = "*Deep Learning from Scratch*, ch. 6, fig. 6-9";
const FIG_6_15: &str = "*Deep Learning from Scratch*, ch. 6, fig. 6-15";
const FIG_6_18: &str = "*Deep Learning from Scratch*, ch. 6, figs. 6-18, 6-19";
const NNDL6: &str = "*Neural Networks and Deep Learning*, ch. 6";
const DLFS7: &str = "*Deep Learning from Scratch*, ch. 7";
const DLFS8: &str = "*Deep Learning from Scratch*, ch. 8";

/// An experiment whose book publishes an accuracy.
const fn accuracy(
    name: &'static str,
    source: &'static str,
    split: Split,
    percent: f64,
) -> Experiment {
    Experiment {
        name,
        config: name,
        seeds: &[],
        source,
        published: Published::Accuracy { split, percent },
    }
}

/// An ensemble: runs of `config` with each of `seeds`, whose vote's test accuracy the book
/// publishes.
const fn ensemble(
    name: &'static str,
    config: &'static str,
    seeds: &'static [u64],
    source: &'static str,
    percent: f64,
) -> Experiment {
    Experiment {
        name,
        config,
        seeds,
        source,
        published: Published::Vote { percent },
    }
}

/// An experiment whose book draws a figure, read as a claim.
const fn claim(name: &'static str, source: &'static str, claim: Claim) -> Experiment {
    Experiment {
        name,
        config: name,
        seeds: &[],
        source,
        published: Published::Claim(claim),
    }
}

/// The suite, in the order it runs.
pub const SUITE: &[Group] = &[
    Group {
        title: "network.py (Nielsen, chapter 1)",
        chart: "network",
        on_request: false,
        experiments: &[
            accuracy("nielsen", NNDL1, Split::Test, 95.42),
            accuracy("nielsen-100", NNDL1, Split::Test, 96.59),
        ],
    },
    Group {
        title: "TwoLayerNet (Deep Learning from Scratch, chapter 5)",
        chart: "two-layer-net",
        on_request: false,
        experiments: &[accuracy("two-layer-net", DLFS5, Split::Test, 97.0)],
    },
    Group {
        title: "network2.py: cross-entropy and L2 regularisation (Nielsen, chapter 3)",
        chart: "network2",
        on_request: false,
        experiments: &[
            accuracy("network2-30", NNDL3, Split::Test, 96.49),
            accuracy("network2-100", NNDL3, Split::Validation, 98.04),
        ],
    },
    Group {
        title: "Update rules compared (Deep Learning from Scratch, figure 6-9)",
        chart: "optimizers",
        on_request: false,
        experiments: &[
            claim("ch6-optimizer-sgd", FIG_6_9, Claim::SlowestOfGroup),
            claim(
                "ch6-optimizer-momentum",
                FIG_6_9,
                Claim::FasterThan("ch6-optimizer-sgd"),
            ),
            claim(
                "ch6-optimizer-adagrad",
                FIG_6_9,
                Claim::FasterThan("ch6-optimizer-sgd"),
            ),
            claim(
                "ch6-optimizer-adam",
                FIG_6_9,
                Claim::FasterThan("ch6-optimizer-sgd"),
            ),
        ],
    },
    Group {
        title: "Weight initialisation compared (Deep Learning from Scratch, figure 6-15)",
        chart: "initialisation",
        on_request: false,
        experiments: &[
            claim("ch6-init-std001", FIG_6_15, Claim::DoesNotLearn),
            claim(
                "ch6-init-xavier",
                FIG_6_15,
                Claim::FasterThan("ch6-init-std001"),
            ),
            claim(
                "ch6-init-he",
                FIG_6_15,
                Claim::FasterThan("ch6-init-xavier"),
            ),
        ],
    },
    Group {
        title: "Batch normalisation (Deep Learning from Scratch, figures 6-18 and 6-19)",
        chart: "batch-norm",
        on_request: false,
        experiments: &[
            claim("ch6-batchnorm-off", FIG_6_18, Claim::DoesNotLearn),
            claim(
                "ch6-batchnorm-on",
                FIG_6_18,
                Claim::FasterThan("ch6-batchnorm-off"),
            ),
        ],
    },
    Group {
        title: "Overfitting on 300 images, weight decay and dropout (Deep Learning from Scratch, figures 6-20, 6-21, 6-23)",
        chart: "overfitting",
        on_request: false,
        experiments: &[
            Experiment {
                name: "ch6-overfit",
                config: "ch6-overfit",
                seeds: &[],
                source: "*Deep Learning from Scratch*, ch. 6, fig. 6-20",
                published: Published::Claim(Claim::Overfits),
            },
            Experiment {
                name: "ch6-overfit-weight-decay",
                config: "ch6-overfit-weight-decay",
                seeds: &[],
                source: "*Deep Learning from Scratch*, ch. 6, fig. 6-21",
                published: Published::Claim(Claim::NarrowsGapOf("ch6-overfit")),
            },
            Experiment {
                name: "ch6-overfit-dropout",
                config: "ch6-overfit-dropout",
                seeds: &[],
                source: "*Deep Learning from Scratch*, ch. 6, fig. 6-23",
                published: Published::Claim(Claim::NarrowsGapOf("ch6-overfit")),
            },
        ],
    },
    Group {
        title: "network3.py: convolutional networks (Nielsen, chapter 6)",
        chart: "network3",
        on_request: true,
        experiments: &[
            accuracy("network3-fc", NNDL6, Split::TestAtBestValidation, 97.80),
            accuracy("network3-conv1", NNDL6, Split::TestAtBestValidation, 98.78),
            accuracy("network3-conv2", NNDL6, Split::TestAtBestValidation, 99.06),
            accuracy("network3-relu", NNDL6, Split::TestAtBestValidation, 99.23),
            accuracy(
                "network3-expanded",
                NNDL6,
                Split::TestAtBestValidation,
                99.37,
            ),
            accuracy("network3-fc2", NNDL6, Split::TestAtBestValidation, 99.43),
            accuracy(
                "network3-dropout",
                NNDL6,
                Split::TestAtBestValidation,
                99.60,
            ),
            ensemble(
                "network3-ensemble",
                "network3-dropout",
                &[1, 2, 3, 4, 5],
                NNDL6,
                99.67,
            ),
        ],
    },
    Group {
        title: "SimpleConvNet and DeepConvNet (Deep Learning from Scratch, chapters 7 and 8)",
        chart: "convnets",
        on_request: true,
        experiments: &[
            accuracy("simple-convnet", DLFS7, Split::TestAtBestValidation, 99.0),
            accuracy("deep-convnet", DLFS8, Split::TestAtBestValidation, 99.38),
        ],
    },
    Group {
        title: "The best MLP (configs/best.toml)",
        chart: "best",
        on_request: false,
        experiments: &[Experiment {
            name: "best",
            config: "best",
            seeds: &[],
            source: "MLPs without augmentation, 98.4–98.6%",
            published: Published::Accuracy {
                split: Split::Test,
                percent: 98.5,
            },
        }],
    },
];
