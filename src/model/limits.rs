//! The sizes this engine accepts, in one place. Every config value is checked against these
//! before anything is allocated, so that every size computed from them (in u64, then
//! converted) fits a 32-bit `usize` on wasm32 and a u32 index in the kernels. They are
//! generous for real diffusers `UNet2DModel` checkpoints (ddpm-cifar10-32: 4 levels of
//! 128-256 channels; 256x256 models: 6 levels up to 512-1024 channels) and the same natively
//! and on the web.

/// Resolution levels (`block_out_channels.len()`): the sample side is divided by 2^(levels-1).
pub const MAX_LEVELS: usize = 8;
/// Channels of one level (`block_out_channels[i]`).
pub const MAX_CHANNELS: usize = 4096;
/// `in_channels` and `out_channels` (3 for RGB, 4 for latents).
pub const MAX_IO_CHANNELS: usize = 256;
/// `time_embedding_dim` (diffusers' default is 4 x `block_out_channels[0]`).
pub const MAX_TIME_EMBED_DIM: usize = 4 * MAX_CHANNELS;
/// Resnets per down block (`layers_per_block`; up blocks have one more).
pub const MAX_LAYERS_PER_BLOCK: usize = 16;
/// Height and width of a sample, each (`sample_size`, or the CLI's `forward` input).
pub const MAX_SAMPLE_SIDE: usize = 4096;
/// Images per forward pass or sampling run (CLI `--batch`, the web API's `createSession`).
pub const MAX_BATCH: usize = 1024;
/// Elements of one tensor (activation, parameter or scratch): 2^28 f32 values are 1 GiB, so
/// a tensor's byte size fits a wasm32 `usize` (and `isize`) and its indices a WGSL u32.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 28;
/// Floats a CPU session may hold in all (its tensors, packed params and scratch): 3 GiB on
/// wasm32, whose memory ends at 4 GiB; natively the machine's memory is the limit.
pub const MAX_HOST_BYTES: u64 = if cfg!(target_arch = "wasm32") {
    3 << 30
} else {
    u64::MAX
};
