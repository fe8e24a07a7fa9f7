//! `incept zoo`: the six Inception networks built from their papers' module specifications —
//! list them with their parameter and MAC counts, export one as ONNX with seeded weights.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use inception_edge::zoo::{self, Arch, Spec, Weights};
use inception_edge_compiler::pb::ModelProto;
use prost::Message;

/// Options of `incept zoo`.
#[derive(clap::Args, Debug)]
pub struct ZooArgs {
    #[command(subcommand)]
    command: ZooCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ZooCommand {
    /// List the networks: input size, parameters, multiply-accumulates, weighted layers.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write one network as an ONNX file with seeded weights, or weights from a file (runs in
    /// onnxruntime, tract and `incept quantize`).
    Export {
        /// The network: googlenet, bn-inception, inception-v3, inception-v4,
        /// inception-resnet-v1, inception-resnet-v2 (or v1, v2, v3, v4, irv1, irv2).
        #[arg(value_parser = parse_arch)]
        arch: Arch,
        /// The ONNX file to write.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        spec: SpecArgs,
        /// Take the weights from this ONNX file instead of seeding them: its tensors named
        /// LAYER.weight / LAYER.bias (an earlier export, or a checkpoint converted to the zoo's
        /// layer names). The number of classes follows the file's classifier.
        #[arg(long, value_name = "FILE.onnx")]
        weights: Option<PathBuf>,
        /// With inception-v3: the --weights file is Google's 2015 Inception-v3 graph with batch
        /// normalization folded (as models/inception-v3-fmnist/*.onnx), and the network is
        /// built as Google's 2015 definition (average pools exclude the padding; Mixed_7c's
        /// pool branch is a max pool).
        #[arg(long, requires = "weights")]
        google_2015: bool,
    },
    /// Put seeded weights into an ONNX graph whose weights are `ConstantOfShape`
    /// placeholders (the ONNX model zoo's light_inception_v1.onnx / light_inception_v2.onnx
    /// in the `onnx` wheel), so it computes something that can be checked.
    Materialize {
        /// The ONNX file with placeholder weights.
        input: PathBuf,
        /// The ONNX file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Weight seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// How to build a zoo network (shared with `incept bench --arch`).
#[derive(clap::Args, Debug, Clone)]
pub struct SpecArgs {
    /// Weight seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Classifier outputs.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub classes: u32,
    /// Input height and width (default: the network's standard size, 224 or 299).
    #[arg(long)]
    pub size: Option<u32>,
}

impl SpecArgs {
    /// The build specification for `arch`.
    pub fn spec(&self, arch: Arch) -> Spec {
        Spec {
            classes: self.classes as usize,
            size: self.size.map_or(arch.input_size(), |s| s as usize),
            weights: Weights::Seeded(self.seed),
        }
    }
}

/// Parses a network name for clap.
pub fn parse_arch(s: &str) -> Result<Arch, String> {
    Arch::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
        format!("unknown network {s:?}; one of {}", names.join(", "))
    })
}

#[derive(serde::Serialize)]
struct Row {
    name: &'static str,
    input: usize,
    params: u64,
    macs: u64,
    layers: usize,
}

/// Reads and parses an ONNX file.
fn read_onnx(path: &std::path::Path) -> anyhow::Result<ModelProto> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    ModelProto::decode(&*bytes).with_context(|| format!("{} is not an ONNX model", path.display()))
}

/// Runs `incept zoo`.
pub fn run(args: ZooArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ZooCommand::List { json } => {
            let mut rows = Vec::new();
            for arch in Arch::ALL {
                let net = arch.build(&Spec::counts_only(arch))?;
                rows.push(Row {
                    name: arch.name(),
                    input: arch.input_size(),
                    params: net.params,
                    macs: net.macs,
                    layers: net.layers.len(),
                });
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<21} {:>7} {:>12} {:>8} {:>7}",
                    "network", "input", "params", "GMACs", "layers"
                );
                for r in &rows {
                    println!(
                        "{:<21} {:>7} {:>12} {:>8.3} {:>7}",
                        r.name,
                        format!("{0}x{0}", r.input),
                        r.params,
                        r.macs as f64 / 1e9,
                        r.layers
                    );
                }
            }
        }
        ZooCommand::Export {
            arch,
            output,
            spec,
            weights,
            google_2015,
        } => {
            let mut build = spec.spec(arch);
            let mut from = format!("seed {}", spec.seed);
            if let Some(file) = &weights {
                if google_2015 && arch != Arch::InceptionV3 {
                    anyhow::bail!("--google-2015 is for inception-v3, not {arch}");
                }
                let proto = read_onnx(file)?;
                let map = if google_2015 {
                    zoo::google_v3_weights(&proto)?
                } else {
                    zoo::named_weights(&proto)?
                };
                // the classifier is the last layer; its bias says how many classes
                let shapes = arch.build(&Spec::counts_only(arch))?;
                let head = shapes.layers.last().map(|l| format!("{l}.bias"));
                if let Some(bias) = head.as_ref().and_then(|h| map.get(h)) {
                    build.classes = bias.len();
                }
                build.weights = Weights::Named(map);
                from = format!("weights from {}", file.display());
            }
            let net = if google_2015 {
                zoo::inception_v3_google(&build)?
            } else {
                arch.build(&build)?
            };
            let bytes = net.to_onnx_bytes();
            std::fs::write(&output, &bytes)
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!(
                "{}: {} parameters, {:.3} GMACs, input {:?}, {} classes, {from} -> {} ({:.1} MB)",
                arch,
                net.params,
                net.macs as f64 / 1e9,
                net.input,
                net.classes,
                output.display(),
                bytes.len() as f64 / 1e6
            );
        }
        ZooCommand::Materialize {
            input,
            output,
            seed,
        } => {
            let mut proto = read_onnx(&input)?;
            let n = zoo::materialize(&mut proto, seed)?;
            if n == 0 {
                anyhow::bail!(
                    "{}: no ConstantOfShape placeholder to fill",
                    input.display()
                );
            }
            std::fs::write(&output, proto.encode_to_vec())
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!(
                "{}: {n} tensors seeded ({seed}) -> {}",
                input.display(),
                output.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
