//! Builds the [`Graph`] of a `UNet2DModel` config layer by layer, as diffusers' `UNet2DModel`
//! wires it (resnets, attention, down/upsamplers, skip connections), taking and shape-checking
//! parameters by their diffusers names. Every node is final when it is pushed: the fused time
//! projection of all resnets is laid out from the config before the first resnet is built.

use super::graph::{Graph, Node, TensorId, TensorInfo};
use super::{ModelError, Param, ParamId, UNet, UNetConfig};
use crate::ops::{
    Add, Attention, Concat, Conv2d, GroupNorm, Linear, Op, ShapeError, TimeBias, Upsample2x,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Every resnet of the model, in the order the forward pass runs them, with its output
/// channels: the layout of the fused time projection (one column block per resnet).
fn resnets(cfg: &UNetConfig) -> Vec<(String, usize)> {
    let boc = &cfg.block_out_channels;
    let mut out = Vec::new();
    for (i, &c) in boc.iter().enumerate() {
        out.extend((0..cfg.layers_per_block).map(|j| (format!("down_blocks.{i}.resnets.{j}"), c)));
    }
    if cfg.mid_block_type.is_some() {
        let c = boc[boc.len() - 1];
        out.extend((0..2).map(|j| (format!("mid_block.resnets.{j}"), c)));
    }
    for (i, &c) in boc.iter().rev().enumerate() {
        out.extend((0..=cfg.layers_per_block).map(|j| (format!("up_blocks.{i}.resnets.{j}"), c)));
    }
    out
}

/// A convolution's kernel size, stride and (top, bottom, left, right) padding.
type Geometry = (usize, usize, [usize; 4]);
/// 3x3, stride 1, padded to keep the size.
const SAME_3X3: Geometry = (3, 1, [1; 4]);
/// 1x1, stride 1 (shortcuts).
const POINTWISE: Geometry = (1, 1, [0; 4]);

/// The fused time projection: one (N, width) tensor, each resnet's slice at its offset.
struct TimeProjection {
    tensor: TensorId,
    width: usize,
    offsets: HashMap<String, usize>,
}

/// Builds the graph of `unet` at `batch`, taking parameters from `unet.params` (and from
/// `weights` the first time, when `UNet::load` calls it).
pub(super) struct Builder<'a> {
    unet: &'a mut UNet,
    weights: Option<&'a mut super::Weights>,
    /// When set (and there are no weights), missing parameters are drawn at random.
    random: Option<u64>,
    batch: usize,
    tensors: Vec<TensorInfo>,
    nodes: Vec<Node>,
}

impl<'a> Builder<'a> {
    pub fn new(
        unet: &'a mut UNet,
        weights: Option<&'a mut super::Weights>,
        random: Option<u64>,
        batch: usize,
    ) -> Self {
        Builder {
            unet,
            weights,
            random,
            batch,
            tensors: Vec::new(),
            nodes: Vec::new(),
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
        // Bounds the length before anything of it is allocated or compared.
        crate::ops::checked_len("parameter", shape).map_err(|e| ModelError::at(name, e))?;
        let data = match (self.weights.as_deref_mut(), self.random) {
            (Some(weights), _) => match alias {
                Some(alias) => weights.take_either(name, alias, shape)?,
                None => weights.take(name, shape)?,
            },
            (None, Some(seed)) => random_init(seed, name, shape),
            (None, None) => {
                return Err(ModelError::MissingTensor {
                    name: name.to_string(),
                    expected: shape.to_vec(),
                })
            }
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

    /// Appends `op` reading `inputs` and `params`, writing a new tensor `name` of `shape`; the
    /// operands must have the lengths the op's signature states.
    fn push(
        &mut self,
        name: &str,
        op: Result<impl Op + 'static, ShapeError>,
        inputs: &[TensorId],
        params: &[ParamId],
        shape: Vec<usize>,
    ) -> Result<TensorId, ModelError> {
        let op = op.map_err(|e| ModelError::at(name, e))?;
        let sig = op.signature();
        let lens: Vec<usize> = inputs.iter().map(|t| self.tensors[t.0].len()).collect();
        // Parameters carry no data when a graph is rebuilt for another batch size.
        let param_lens: Vec<usize> = params
            .iter()
            .map(|p| self.unet.params[p.0].shape.iter().product())
            .collect();
        let out_len: usize = shape.iter().product();
        if sig.inputs != lens || sig.params != param_lens || sig.output != out_len {
            return Err(ModelError::at(
                name,
                ShapeError {
                    op: op.name(),
                    message: format!(
                        "operands of lengths {lens:?} / params {param_lens:?} / output {out_len} \
                         do not match the op's {sig:?}"
                    ),
                },
            ));
        }
        let output = self.tensor(name, shape);
        self.nodes.push(Node {
            op: Arc::new(op),
            inputs: inputs.to_vec(),
            params: params.to_vec(),
            output,
        });
        Ok(output)
    }

    fn conv(
        &mut self,
        prefix: &str,
        x: TensorId,
        cout: usize,
        (k, stride, pad): Geometry,
        time: Option<(TensorId, TimeBias)>,
    ) -> Result<TensorId, ModelError> {
        let shape = self.shape4(x);
        let op = Conv2d::new(shape, cout, k, stride, pad, time.map(|t| t.1));
        let out_shape = op
            .as_ref()
            .map(|o| o.output_shape().to_vec())
            .unwrap_or_default();
        let weight = self.param(&format!("{prefix}.weight"), None, &[cout, shape[1], k, k])?;
        let bias = self.param(&format!("{prefix}.bias"), None, &[cout])?;
        let inputs: Vec<TensorId> = std::iter::once(x).chain(time.map(|t| t.0)).collect();
        self.push(prefix, op, &inputs, &[weight, bias], out_shape)
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
        let op = GroupNorm::new(n, c, h * w, groups, eps, silu);
        let gamma = self.param(&format!("{prefix}.weight"), None, &[c])?;
        let beta = self.param(&format!("{prefix}.bias"), None, &[c])?;
        self.push(prefix, op, &[x], &[gamma, beta], vec![n, c, h, w])
    }

    fn linear(
        &mut self,
        name: &str,
        x: TensorId,
        (weight, bias): (ParamId, ParamId),
        silu_in: bool,
        silu_out: bool,
    ) -> Result<TensorId, ModelError> {
        let [n, k] = [self.tensors[x.0].shape[0], self.tensors[x.0].shape[1]];
        let out = self.unet.params[weight.0].shape[0];
        let op = Linear::new(n, k, out, silu_in, silu_out);
        self.push(name, op, &[x], &[weight, bias], vec![n, out])
    }

    fn add(
        &mut self,
        name: &str,
        a: TensorId,
        b: TensorId,
        divide_by: f64,
    ) -> Result<TensorId, ModelError> {
        let shape = self.tensors[a.0].shape.clone();
        let op = Add::residual(shape.iter().product(), (1.0 / divide_by) as f32);
        self.push(name, op, &[a, b], &[], shape)
    }

    fn resnet(
        &mut self,
        prefix: &str,
        x: TensorId,
        cout: usize,
        scale: f64,
        time: &TimeProjection,
    ) -> Result<TensorId, ModelError> {
        let cin = self.shape4(x)[1];
        let groups = self.unet.config.norm_num_groups;
        let offset = *time.offsets.get(prefix).ok_or_else(|| ModelError::Config {
            file: "config.json".into(),
            reason: format!("{prefix} is not in the resnet layout of the config"),
        })?;
        let bias = TimeBias {
            stride: time.width,
            offset,
        };
        let h = self.group_norm(&format!("{prefix}.norm1"), x, groups, true)?;
        // conv1 adds this resnet's slice of the fused time projection.
        let h = self.conv(
            &format!("{prefix}.conv1"),
            h,
            cout,
            SAME_3X3,
            Some((time.tensor, bias)),
        )?;
        let h = self.group_norm(&format!("{prefix}.norm2"), h, groups, true)?;
        let h = self.conv(&format!("{prefix}.conv2"), h, cout, SAME_3X3, None)?;
        let shortcut = if cin != cout {
            self.conv(&format!("{prefix}.conv_shortcut"), x, cout, POINTWISE, None)?
        } else {
            x
        };
        self.add(&format!("{prefix}.out"), shortcut, h, scale)
    }

    /// A projection's weight and bias by diffusers' name, or the deprecated one.
    fn projection(
        &mut self,
        prefix: &str,
        (new, old): (&str, &str),
        c: usize,
    ) -> Result<(ParamId, ParamId), ModelError> {
        let mut ids = [ParamId(0); 2];
        for (id, (part, shape)) in ids
            .iter_mut()
            .zip([("weight", vec![c, c]), ("bias", vec![c])])
        {
            *id = self.param(
                &format!("{prefix}.{new}.{part}"),
                Some(&format!("{prefix}.{old}.{part}")),
                &shape,
            )?;
        }
        Ok((ids[0], ids[1]))
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
        let g = self.group_norm(&format!("{prefix}.group_norm"), x, groups, false)?;
        let mut qkv = Vec::new();
        for names in [("to_q", "query"), ("to_k", "key"), ("to_v", "value")] {
            qkv.push(self.projection(prefix, names, c)?);
        }
        let qkv_w = self.fused(
            &format!("{prefix}.qkv.weight"),
            &qkv.iter().map(|p| p.0).collect::<Vec<_>>(),
        );
        let qkv_b = self.fused(
            &format!("{prefix}.qkv.bias"),
            &qkv.iter().map(|p| p.1).collect::<Vec<_>>(),
        );
        let shape = [n, c, hh, ww];
        let proj = Conv2d::new(shape, 3 * c, 1, 1, [0; 4], None);
        let qkv = self.push(
            &format!("{prefix}.qkv"),
            proj,
            &[g],
            &[qkv_w, qkv_b],
            vec![n, 3 * c, hh, ww],
        )?;
        let op = Attention::new(n, c, hh * ww, c / head_dim);
        let att = self.push(
            &format!("{prefix}.attention"),
            op,
            &[qkv],
            &[],
            shape.to_vec(),
        )?;
        let (ow, ob) = self.projection(prefix, ("to_out.0", "proj_attn"), c)?;
        let op = Conv2d::new(shape, c, 1, 1, [0; 4], None);
        let o = self.push(
            &format!("{prefix}.to_out"),
            op,
            &[att],
            &[ow, ob],
            shape.to_vec(),
        )?;
        self.add(&format!("{prefix}.out"), o, x, rescale)
    }

    /// x_t centred to 2x - 1 when the config asks for it.
    fn centred(&mut self, cfg: &UNetConfig, input: TensorId) -> Result<TensorId, ModelError> {
        if !cfg.center_input_sample {
            return Ok(input);
        }
        let shape = self.tensors[input.0].shape.clone();
        let op = Add::affine(shape.iter().product(), 2.0, -1.0);
        self.push("center_input_sample", op, &[input], &[], shape)
    }

    /// The time embedding MLP (linear_1 -> SiLU -> linear_2) and, fused into one linear layer
    /// after a SiLU, every resnet's `time_emb_proj`.
    fn time_embedding(
        &mut self,
        cfg: &UNetConfig,
        time_input: TensorId,
    ) -> Result<TimeProjection, ModelError> {
        let (c0, temb) = (cfg.block_out_channels[0], cfg.time_embed_dim());
        let mut mlp = Vec::new();
        for (layer, k) in [("linear_1", c0), ("linear_2", temb)] {
            let w = self.param(&format!("time_embedding.{layer}.weight"), None, &[temb, k])?;
            let b = self.param(&format!("time_embedding.{layer}.bias"), None, &[temb])?;
            mlp.push((w, b));
        }
        let e1 = self.linear("time_embedding.linear_1", time_input, mlp[0], false, true)?;
        let emb = self.linear("time_embedding", e1, mlp[1], false, false)?;

        let (mut weights, mut biases, mut offsets) = (Vec::new(), Vec::new(), HashMap::new());
        let mut width = 0;
        for (prefix, cout) in resnets(cfg) {
            weights.push(self.param(
                &format!("{prefix}.time_emb_proj.weight"),
                None,
                &[cout, temb],
            )?);
            biases.push(self.param(&format!("{prefix}.time_emb_proj.bias"), None, &[cout])?);
            offsets.insert(prefix, width);
            width += cout;
        }
        let fused = (
            self.fused("time_emb_proj.fused.weight", &weights),
            self.fused("time_emb_proj.fused.bias", &biases),
        );
        let tensor = self.linear("time_emb_proj.fused", emb, fused, true, false)?;
        Ok(TimeProjection {
            tensor,
            width,
            offsets,
        })
    }

    /// conv_in and the down blocks; returns the features and the skip connections.
    fn down_path(
        &mut self,
        cfg: &UNetConfig,
        x: TensorId,
        time: &TimeProjection,
    ) -> Result<(TensorId, Vec<TensorId>), ModelError> {
        let c0 = cfg.block_out_channels[0];
        let mut h = self.conv("conv_in", x, c0, SAME_3X3, None)?;
        let mut skips = vec![h];
        let pad = if cfg.downsample_padding == 0 {
            [0, 1, 0, 1]
        } else {
            [1; 4]
        };
        for (i, &cout) in cfg.block_out_channels.iter().enumerate() {
            for j in 0..cfg.layers_per_block {
                h = self.resnet(&format!("down_blocks.{i}.resnets.{j}"), h, cout, 1.0, time)?;
                if cfg.down_block(i).attention {
                    let prefix = format!("down_blocks.{i}.attentions.{j}");
                    h = self.attention(&prefix, h, cfg.norm_num_groups, 1.0)?;
                }
                skips.push(h);
            }
            if i + 1 < cfg.block_out_channels.len() {
                let name = format!("down_blocks.{i}.downsamplers.0.conv");
                h = self.conv(&name, h, cout, (3, 2, pad), None)?;
                skips.push(h);
            }
        }
        Ok((h, skips))
    }

    /// resnet, optional attention, resnet; each output divided by `mid_block_scale_factor`.
    fn mid_block(
        &mut self,
        cfg: &UNetConfig,
        mut h: TensorId,
        time: &TimeProjection,
    ) -> Result<TensorId, ModelError> {
        if cfg.mid_block_type.is_none() {
            return Ok(h);
        }
        let (msf, c) = (cfg.mid_block_scale_factor, self.shape4(h)[1]);
        h = self.resnet("mid_block.resnets.0", h, c, msf, time)?;
        if cfg.add_attention {
            let groups = cfg.attn_norm_num_groups.unwrap_or(cfg.norm_num_groups);
            h = self.attention("mid_block.attentions.0", h, groups, msf)?;
        }
        self.resnet("mid_block.resnets.1", h, c, msf, time)
    }

    /// The up blocks, each resnet fed the concatenation with a skip connection.
    fn up_path(
        &mut self,
        cfg: &UNetConfig,
        mut h: TensorId,
        mut skips: Vec<TensorId>,
        time: &TimeProjection,
    ) -> Result<TensorId, ModelError> {
        let levels = cfg.block_out_channels.len();
        for (i, &cout) in cfg.block_out_channels.iter().rev().enumerate() {
            for j in 0..=cfg.layers_per_block {
                let skip = skips.pop().ok_or_else(|| ModelError::Config {
                    file: "config.json".into(),
                    reason: "more up-block layers than skip connections".into(),
                })?;
                let [nb, ca, hh, ww] = self.shape4(h);
                let [_, cb, sh, sw] = self.shape4(skip);
                let name = format!("up_blocks.{i}.resnets.{j}.concat");
                let op = if (sh, sw) == (hh, ww) {
                    Concat::new(nb, ca, cb, hh * ww)
                } else {
                    Err(crate::ops::shape_err(
                        "concat",
                        format!("skip is {sh}x{sw} but the up path is {hh}x{ww}"),
                    ))
                };
                h = self.push(&name, op, &[h, skip], &[], vec![nb, ca + cb, hh, ww])?;
                h = self.resnet(&format!("up_blocks.{i}.resnets.{j}"), h, cout, 1.0, time)?;
                if cfg.up_block(i).attention {
                    let prefix = format!("up_blocks.{i}.attentions.{j}");
                    h = self.attention(&prefix, h, cfg.norm_num_groups, 1.0)?;
                }
            }
            if i + 1 < levels {
                let [nb, c, hh, ww] = self.shape4(h);
                let name = format!("up_blocks.{i}.upsamplers.0");
                let op = Upsample2x::new(nb * c, hh, ww);
                h = self.push(&name, op, &[h], &[], vec![nb, c, 2 * hh, 2 * ww])?;
                h = self.conv(&format!("{name}.conv"), h, cout, SAME_3X3, None)?;
            }
        }
        Ok(h)
    }

    pub fn build(mut self) -> Result<Graph, ModelError> {
        let cfg = self.unet.config.clone();
        let (h, w) = self.unet.sample_hw;
        let input = self.tensor("sample", vec![self.batch, cfg.in_channels, h, w]);
        let x = self.centred(&cfg, input)?;
        let time_input = self.tensor("time_proj", vec![self.batch, cfg.block_out_channels[0]]);
        let time = self.time_embedding(&cfg, time_input)?;
        let (h, skips) = self.down_path(&cfg, x, &time)?;
        let h = self.mid_block(&cfg, h, &time)?;
        let h = self.up_path(&cfg, h, skips, &time)?;
        let h = self.group_norm("conv_norm_out", h, cfg.norm_num_groups, true)?;
        let output = self.conv("conv_out", h, cfg.out_channels, SAME_3X3, None)?;
        Ok(Graph {
            batch: self.batch,
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
/// Each tensor's values depend only on the seed and its name.
fn random_init(seed: u64, name: &str, shape: &[usize]) -> Vec<f32> {
    let len: usize = shape.iter().product();
    if name.contains("norm") {
        let one = if name.ends_with(".weight") { 1.0 } else { 0.0 };
        return vec![one; len];
    }
    let fan_in: usize = if shape.len() > 1 {
        shape[1..].iter().product()
    } else {
        shape[0]
    };
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    // FNV-1a of the name, so the values do not depend on the order parameters are taken in.
    let stream = name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let mut noise = vec![0f32; len];
    crate::rng::fill_gaussian(seed ^ stream, 0x5eed, 0, &mut noise);
    noise
        .iter()
        .map(|v| (v * 0.5).clamp(-1.0, 1.0) * bound)
        .collect()
}
