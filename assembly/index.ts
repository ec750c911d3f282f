// The one Wasm module: every kernel family, re-exported. Each kernel takes raw pointers into
// host-managed memory and a work range [r0, r1) (plus the thread id, where it needs scratch).
export { gemv_f32 } from "./gemv_dense";
export { gemm_f32 } from "./gemm_dense";
export { read_sum_f32, fma_peak_f32 } from "./ceilings";
export { f16_to_f32, bf16_to_f32, f32_to_f16, f32_to_bf16 } from "./convert";
export { colsumsq_f64, hessian_pack_f32, hessian_upper_f32, hessian_mirror_f32 } from "./stats";
export * from "./norms";
export { exp_f32, silu_f32, gelu_tanh_f32, glu_f32, add_f32, add_bias_f32, softmax_f32, softcap_f32 } from "./activations";
export * from "./rope";
export * from "./attention";
export * from "./logits";
export * from "./scores";
export * from "./mask_select";
export * from "./mask_apply";
export * from "./cholesky";
export * from "./sparsegpt";
export * from "./gemv_sparse_nm_in";
export * from "./gemv_sparse_nm_out";
export * from "./gemv_sparse_tab8_in";
export * from "./gemm_sparse_tab8_in";
export * from "./gemv_sparse_swz_out";
export * from "./gemv_sparse_cls_out";
export * from "./gemm_sparse_cls_out";
export * from "./dequant_ggml";
