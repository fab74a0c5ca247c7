// The operand precision of the trainer's weight products (train.json
// "precision"): fp32 (sgemm, gemm_pieces.h) or bf16 with f32 sums
// (gemm_bf16.h). Its own header so ops.h and config.h share it.
#pragma once

namespace ratchet::train {

enum class Precision { kFp32, kBf16 };

}  // namespace ratchet::train
