//! Builds the [`Graph`] of a `UNet2DModel` config layer by layer, as diffusers' `UNet2DModel`
//! wires it (resnets, attention, down/upsamplers, skip connections), taking and shape-checking
//! parameters by their diffusers names.

use super::graph::{Graph, Node, TensorId, TensorInfo};
use super::{ModelError, Param, ParamId, UNet};
use crate::ops::{Add, Attention, Concat, Conv2d, GroupNorm, Linear, TimeBias, Upsample2x};

/// Builds the graph of `unet` at `batch`, taking parameters from `unet.params` (and from
/// `weights` the first time, when `UNet::load` calls it).
pub(super) struct Builder<'a> {
    pub unet: &'a mut UNet,
    pub weights: Option<&'a mut super::Weights>,
    /// When set (and there are no weights), missing parameters are drawn at random.
    pub random: Option<u64>,
    pub batch: usize,
    tensors: Vec<TensorInfo>,
    nodes: Vec<Node>,
    /// Each resnet's time projection (weight, bias, out channels), fused at the end.
    time_projs: Vec<(ParamId, ParamId, usize)>,
    time_all: Option<TensorId>,
}

impl<'a> Builder<'a> {
    pub fn new(unet: &'a mut UNet, weights: Option<&'a mut super::Weights>, batch: usize) -> Self {
        Builder {
            unet,
            weights,
            random: None,
            batch,
            tensors: Vec::new(),
            nodes: Vec::new(),
            time_projs: Vec::new(),
            time_all: None,
        }
    }

    fn tensor(&mut self, name: impl Into<String>, shape: Vec<usize>) -> TensorId {
        self.tensors.push(TensorInfo {
            name: name.into(),
            shape,
        });
        TensorId(self.tensors.len() - 1)
    }

    fn shape4(&self, t: TensorId) -> [usize; 4] {
        let s = &self.tensors[t.0].shape;
        [s[0], s[1], s[2], s[3]]
    }

    /// Parameter `name` (or its deprecated `alias`) with shape `shape`.
    fn param(
        &mut self,
        name: &str,
        alias: Option<&str>,
        shape: &[usize],
    ) -> Result<ParamId, ModelError> {
        if let Some(id) = self.unet.param_id(name) {
            return Ok(id);
        }
        if let (None, Some(seed)) = (&self.weights, self.random) {
            let data = random_init(seed ^ self.unet.params.len() as u64, name, shape);
            return Ok(self.unet.add_param(Param {
                name: name.to_string(),
                shape: shape.to_vec(),
                data,
            }));
        }
        let weights = self
            .weights
            .as_deref_mut()
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                expected: shape.to_vec(),
            })?;
        let data = match alias {
            Some(alias) => weights.take_either(name, alias, shape)?,
            None => weights.take(name, shape)?,
        };
        Ok(self.unet.add_param(Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            data,
        }))
    }

    /// A parameter made by stacking others along their first axis (fused projections).
    fn fused(&mut self, name: &str, parts: &[ParamId]) -> ParamId {
        if let Some(id) = self.unet.param_id(name) {
            return id;
        }
        let mut data = Vec::new();
        let mut rows = 0;
        let mut rest = Vec::new();
        for &p in parts {
            let part = &self.unet.params[p.0];
            rows += part.shape[0];
            rest = part.shape[1..].to_vec();
            data.extend_from_slice(&part.data);
        }
        let mut shape = vec![rows];
        shape.extend(rest);
        self.unet.add_param(Param {
            name: name.to_string(),
            shape,
            data,
        })
    }

    fn push(&mut self, node: Node) -> TensorId {
        let out = node.output();
        self.nodes.push(node);
        out
    }

    fn conv(
        &mut self,
        prefix: &str,
        x: TensorId,
        cout: usize,
        k: usize,
        stride: usize,
        pad: [usize; 4],
    ) -> Result<TensorId, ModelError> {
        let shape = self.shape4(x);
        let op = Conv2d::new(shape, cout, k, stride, pad).map_err(|e| ModelError::at(prefix, e))?;
        let weight = self.param(&format!("{prefix}.weight"), None, &[cout, shape[1], k, k])?;
        let bias = self.param(&format!("{prefix}.bias"), None, &[cout])?;
        let out = self.tensor(prefix, op.output_shape().to_vec());
        Ok(self.push(Node::Conv {
            op,
            x,
            weight,
            bias,
            time: None,
            out,
        }))
    }

    fn group_norm(
        &mut self,
        prefix: &str,
        x: TensorId,
        groups: usize,
        silu: bool,
    ) -> Result<TensorId, ModelError> {
        let [n, c, h, w] = self.shape4(x);
        let eps = self.unet.config.norm_eps as f32;
        let op = GroupNorm::new(n, c, h * w, groups, eps, silu)
            .map_err(|e| ModelError::at(prefix, e))?;
        let gamma = self.param(&format!("{prefix}.weight"), None, &[c])?;
        let beta = self.param(&format!("{prefix}.bias"), None, &[c])?;
        let out = self.tensor(prefix, vec![n, c, h, w]);
        Ok(self.push(Node::GroupNorm {
            op,
            x,
            gamma,
            beta,
            out,
        }))
    }

    fn add(
        &mut self,
        name: &str,
        a: TensorId,
        b: TensorId,
        divide_by: f64,
    ) -> Result<TensorId, ModelError> {
        let shape = self.tensors[a.0].shape.clone();
        if shape != self.tensors[b.0].shape {
            return Err(ModelError::at(
                name,
                crate::ops::ShapeError {
                    op: "add",
                    message: format!("{:?} vs {:?}", shape, self.tensors[b.0].shape),
                },
            ));
        }
        let op = Add::residual(shape.iter().product(), (1.0 / divide_by) as f32)
            .map_err(|e| ModelError::at(name, e))?;
        let out = self.tensor(name, shape);
        Ok(self.push(Node::Add {
            op,
            a,
            b: Some(b),
            out,
        }))
    }

    fn resnet(
        &mut self,
        prefix: &str,
        x: TensorId,
        cout: usize,
        scale: f64,
    ) -> Result<TensorId, ModelError> {
        let cin = self.shape4(x)[1];
        let groups = self.unet.config.norm_num_groups;
        let temb_dim = self.unet.config.time_embed_dim();
        let h = self.group_norm(&format!("{prefix}.norm1"), x, groups, true)?;
        let h = self.conv(&format!("{prefix}.conv1"), h, cout, 3, 1, [1; 4])?;
        // conv1 adds this resnet's slice of the fused time projection.
        let pw = self.param(
            &format!("{prefix}.time_emb_proj.weight"),
            None,
            &[cout, temb_dim],
        )?;
        let pb = self.param(&format!("{prefix}.time_emb_proj.bias"), None, &[cout])?;
        let offset: usize = self.time_projs.iter().map(|p| p.2).sum();
        self.time_projs.push((pw, pb, cout));
        if let Some(Node::Conv { op, time, .. }) = self.nodes.last_mut() {
            *op = op.clone().with_time_bias(TimeBias { stride: 0, offset });
            *time = self.time_all;
        }
        let h = self.group_norm(&format!("{prefix}.norm2"), h, groups, true)?;
        let h = self.conv(&format!("{prefix}.conv2"), h, cout, 3, 1, [1; 4])?;
        let shortcut = if cin != cout {
            self.conv(&format!("{prefix}.conv_shortcut"), x, cout, 1, 1, [0; 4])?
        } else {
            x
        };
        self.add(&format!("{prefix}.out"), shortcut, h, scale)
    }

    fn attention(
        &mut self,
        prefix: &str,
        x: TensorId,
        groups: usize,
        rescale: f64,
    ) -> Result<TensorId, ModelError> {
        let [n, c, hh, ww] = self.shape4(x);
        let head_dim = self.unet.config.head_dim(c);
        if head_dim == 0 || c % head_dim != 0 {
            return Err(ModelError::Unsupported {
                field: "attention_head_dim".into(),
                found: format!("{head_dim} for {c} channels at {prefix}"),
                supported: "a divisor of the block's channel count".into(),
            });
        }
        let heads = c / head_dim;
        let g = self.group_norm(&format!("{prefix}.group_norm"), x, groups, false)?;
        let mut ws = Vec::new();
        let mut bs = Vec::new();
        for (new, old) in [("to_q", "query"), ("to_k", "key"), ("to_v", "value")] {
            ws.push(self.param(
                &format!("{prefix}.{new}.weight"),
                Some(&format!("{prefix}.{old}.weight")),
                &[c, c],
            )?);
            bs.push(self.param(
                &format!("{prefix}.{new}.bias"),
                Some(&format!("{prefix}.{old}.bias")),
                &[c],
            )?);
        }
        let qkv_w = self.fused(&format!("{prefix}.qkv.weight"), &ws);
        let qkv_b = self.fused(&format!("{prefix}.qkv.bias"), &bs);
        let proj = Conv2d::new([n, c, hh, ww], 3 * c, 1, 1, [0; 4])
            .map_err(|e| ModelError::at(prefix, e))?;
        let qkv = self.tensor(format!("{prefix}.qkv"), vec![n, 3 * c, hh, ww]);
        self.push(Node::Conv {
            op: proj,
            x: g,
            weight: qkv_w,
            bias: qkv_b,
            time: None,
            out: qkv,
        });
        let op = Attention::new(n, c, hh * ww, heads).map_err(|e| ModelError::at(prefix, e))?;
        let att = self.tensor(format!("{prefix}.attention"), vec![n, c, hh, ww]);
        self.push(Node::Attention { op, qkv, out: att });
        let ow = self.param(
            &format!("{prefix}.to_out.0.weight"),
            Some(&format!("{prefix}.proj_attn.weight")),
            &[c, c],
        )?;
        let ob = self.param(
            &format!("{prefix}.to_out.0.bias"),
            Some(&format!("{prefix}.proj_attn.bias")),
            &[c],
        )?;
        let op =
            Conv2d::new([n, c, hh, ww], c, 1, 1, [0; 4]).map_err(|e| ModelError::at(prefix, e))?;
        let o = self.tensor(format!("{prefix}.to_out"), vec![n, c, hh, ww]);
        self.push(Node::Conv {
            op,
            x: att,
            weight: ow,
            bias: ob,
            time: None,
            out: o,
        });
        self.add(&format!("{prefix}.out"), o, x, rescale)
    }

    pub fn build(mut self) -> Result<Graph, ModelError> {
        let cfg = self.unet.config.clone();
        let n = self.batch;
        let (h, w) = self.unet.sample_hw;
        let c0 = cfg.block_out_channels[0];
        let temb_dim = cfg.time_embed_dim();
        let input = self.tensor("sample", vec![n, cfg.in_channels, h, w]);
        let time_input = self.tensor("time_proj", vec![n, c0]);

        let mut x = input;
        if cfg.center_input_sample {
            let op = Add::affine(n * cfg.in_channels * h * w, 2.0, -1.0)
                .map_err(|e| ModelError::at("center_input_sample", e))?;
            let out = self.tensor("centred_sample", vec![n, cfg.in_channels, h, w]);
            x = self.push(Node::Add {
                op,
                a: x,
                b: None,
                out,
            });
        }

        // Time embedding MLP: linear_1 -> SiLU -> linear_2.
        let w1 = self.param("time_embedding.linear_1.weight", None, &[temb_dim, c0])?;
        let b1 = self.param("time_embedding.linear_1.bias", None, &[temb_dim])?;
        let w2 = self.param(
            "time_embedding.linear_2.weight",
            None,
            &[temb_dim, temb_dim],
        )?;
        let b2 = self.param("time_embedding.linear_2.bias", None, &[temb_dim])?;
        let e1 = self.tensor("time_embedding.linear_1", vec![n, temb_dim]);
        let op = Linear::new(n, c0, temb_dim, false, true)
            .map_err(|e| ModelError::at("time_embedding", e))?;
        self.push(Node::Linear {
            op,
            x: time_input,
            weight: w1,
            bias: b1,
            out: e1,
        });
        let emb = self.tensor("time_embedding", vec![n, temb_dim]);
        let op = Linear::new(n, temb_dim, temb_dim, false, false)
            .map_err(|e| ModelError::at("time_embedding", e))?;
        self.push(Node::Linear {
            op,
            x: e1,
            weight: w2,
            bias: b2,
            out: emb,
        });
        // Placeholder for the fused time projections of all resnets (shape fixed at the end).
        let time_all_at = self.nodes.len();
        let time_all = self.tensor("time_emb_proj.fused", vec![n, 0]);
        self.time_all = Some(time_all);

        let mut h_ = self.conv("conv_in", x, c0, 3, 1, [1; 4])?;
        let mut skips = vec![h_];
        let levels = cfg.block_out_channels.len();
        let pad = if cfg.downsample_padding == 0 {
            [0, 1, 0, 1]
        } else {
            [1; 4]
        };
        for (i, &cout) in cfg.block_out_channels.iter().enumerate() {
            let attn = cfg.down_block(i).attention;
            for j in 0..cfg.layers_per_block {
                h_ = self.resnet(&format!("down_blocks.{i}.resnets.{j}"), h_, cout, 1.0)?;
                if attn {
                    h_ = self.attention(
                        &format!("down_blocks.{i}.attentions.{j}"),
                        h_,
                        cfg.norm_num_groups,
                        1.0,
                    )?;
                }
                skips.push(h_);
            }
            if i + 1 < levels {
                h_ = self.conv(
                    &format!("down_blocks.{i}.downsamplers.0.conv"),
                    h_,
                    cout,
                    3,
                    2,
                    pad,
                )?;
                skips.push(h_);
            }
        }

        let msf = cfg.mid_block_scale_factor;
        let c_last = cfg.block_out_channels[levels - 1];
        if cfg.mid_block_type.is_some() {
            h_ = self.resnet("mid_block.resnets.0", h_, c_last, msf)?;
            if cfg.add_attention {
                let groups = cfg.attn_norm_num_groups.unwrap_or(cfg.norm_num_groups);
                h_ = self.attention("mid_block.attentions.0", h_, groups, msf)?;
            }
            h_ = self.resnet("mid_block.resnets.1", h_, c_last, msf)?;
        }

        let reversed: Vec<usize> = cfg.block_out_channels.iter().rev().copied().collect();
        for (i, &cout) in reversed.iter().enumerate() {
            let attn = cfg.up_block(i).attention;
            for j in 0..=cfg.layers_per_block {
                let skip = skips.pop().ok_or_else(|| ModelError::Config {
                    file: "config.json".into(),
                    reason: "more up-block layers than skip connections".into(),
                })?;
                let [nb, ca, hh, ww] = self.shape4(h_);
                let [_, cb, sh, sw] = self.shape4(skip);
                let name = format!("up_blocks.{i}.resnets.{j}.concat");
                if (sh, sw) != (hh, ww) {
                    return Err(ModelError::at(
                        &name,
                        crate::ops::ShapeError {
                            op: "concat",
                            message: format!("skip is {sh}x{sw} but the up path is {hh}x{ww}"),
                        },
                    ));
                }
                let op = Concat::new(nb, ca, cb, hh * ww).map_err(|e| ModelError::at(&name, e))?;
                let out = self.tensor(name, vec![nb, ca + cb, hh, ww]);
                h_ = self.push(Node::Concat {
                    op,
                    a: h_,
                    b: skip,
                    out,
                });
                h_ = self.resnet(&format!("up_blocks.{i}.resnets.{j}"), h_, cout, 1.0)?;
                if attn {
                    h_ = self.attention(
                        &format!("up_blocks.{i}.attentions.{j}"),
                        h_,
                        cfg.norm_num_groups,
                        1.0,
                    )?;
                }
            }
            if i + 1 < levels {
                let [nb, c, hh, ww] = self.shape4(h_);
                let name = format!("up_blocks.{i}.upsamplers.0");
                let op = Upsample2x::new(nb * c, hh, ww).map_err(|e| ModelError::at(&name, e))?;
                let out = self.tensor(name, vec![nb, c, 2 * hh, 2 * ww]);
                h_ = self.push(Node::Upsample { op, x: h_, out });
                h_ = self.conv(
                    &format!("up_blocks.{i}.upsamplers.0.conv"),
                    h_,
                    cout,
                    3,
                    1,
                    [1; 4],
                )?;
            }
        }

        h_ = self.group_norm("conv_norm_out", h_, cfg.norm_num_groups, true)?;
        let output = self.conv("conv_out", h_, cfg.out_channels, 3, 1, [1; 4])?;

        // Fuse every resnet's SiLU -> time_emb_proj into one linear layer.
        let total: usize = self.time_projs.iter().map(|p| p.2).sum();
        let weights: Vec<ParamId> = self.time_projs.iter().map(|p| p.0).collect();
        let biases: Vec<ParamId> = self.time_projs.iter().map(|p| p.1).collect();
        let fw = self.fused("time_emb_proj.fused.weight", &weights);
        let fb = self.fused("time_emb_proj.fused.bias", &biases);
        self.tensors[time_all.0].shape = vec![n, total];
        let op = Linear::new(n, temb_dim, total.max(1), true, false)
            .map_err(|e| ModelError::at("time_emb_proj", e))?;
        self.nodes.insert(
            time_all_at,
            Node::Linear {
                op,
                x: emb,
                weight: fw,
                bias: fb,
                out: time_all,
            },
        );
        for node in &mut self.nodes {
            if let Node::Conv { op, .. } = node {
                if let Some(tb) = op.time_bias.as_mut() {
                    tb.stride = total;
                }
            }
        }

        Ok(Graph {
            batch: n,
            tensors: self.tensors,
            nodes: self.nodes,
            input,
            time_input,
            output,
        })
    }
}

/// Random parameters for benchmarks and tests without a checkpoint: norms start at
/// weight 1 / bias 0, other weights uniform in +-1/sqrt(fan_in) (torch's default scale).
fn random_init(seed: u64, name: &str, shape: &[usize]) -> Vec<f32> {
    let len: usize = shape.iter().product();
    let is_norm = name.contains("norm");
    if is_norm {
        let one = if name.ends_with(".weight") { 1.0 } else { 0.0 };
        return vec![one; len];
    }
    let fan_in: usize = if shape.len() > 1 {
        shape[1..].iter().product()
    } else {
        shape[0]
    };
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    let mut noise = vec![0f32; len];
    crate::rng::fill_gaussian(seed, 0x5eed, 0, &mut noise);
    noise
        .iter()
        .map(|v| (v * 0.5).clamp(-1.0, 1.0) * bound)
        .collect()
}
