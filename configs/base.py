"""The base run config: every field of one training run, with its default and unit.

Other config files start from `get_config()` here and override fields. Budgets are in tokens
(never steps); `training.budget` converts them to steps in one place.
"""
import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  del arg
  config = ml_collections.ConfigDict()
  config.seed = 0  # model init and dropout-free training RNG

  # Model shape (see model/config.py for the meaning and validation of each field).
  config.model = ml_collections.ConfigDict(dict(
      vocab_size=264,        # embedding rows; >= the tokenizer's vocabulary (byte: 257)
      d_model=64,
      n_layers=2,
      n_heads=4,
      n_kv_heads=4,          # < n_heads for grouped-query attention; must divide n_heads
      d_ff=192,              # SwiGLU hidden width
      seq_len=128,           # context window in tokens
      rope_theta=10_000.0,
      norm_eps=1e-6,
      tie_embeddings=True,
      init_std=0.02,
      dtype="float32",       # compute dtype: float32 or bfloat16
      param_dtype="float32",
      # standard | mup: per-layer init and learning-rate multipliers, attention and output
      # scales relative to a base width (model/parametrization.py, Yang et al. 2022).
      parametrization="standard",
      mup_base_width=0,      # mup: d_model of the base model (<= d_model); 0 under standard
      mup_base_head_dim=0,   # mup: the base model's head size; 0 = this model's own
  ))

  # Data (see data/): which corpus, which tokenizer, where the prepared tokens live.
  config.data = ml_collections.ConfigDict(dict(
      corpus="stdlib",       # stdlib | files | tokens | synthetic
      path="",               # files: a directory or glob; tokens: a .bin file
      text_field="text",     # .jsonl field / .parquet column holding the text
      # files: leave out (with a warning, listed in the manifest) files that are not text and
      # records whose text is null or not a string, instead of refusing the corpus. Not part of
      # the prepared data's identity: it changes no corpus that prepares without it.
      skip_unreadable_input=False,
      token_dtype="",        # tokens corpus: uint16 or uint32
      tokenizer="byte",      # byte | sentencepiece | bpe (byte-level BPE, `tokenizers`)
      tokenizer_vocab_size=0,  # sentencepiece or bpe vocabulary size (0 for byte)
      tokenizer_model="bpe",   # sentencepiece model type: bpe | unigram
      prepared_dir="",       # where prepared data is cached; '' = ~/.cache/scaling-lab/data
      val_fraction=0.02,     # fraction of documents held out for validation
      split_seed=0,          # document-level train/validation split
      shuffle_seed=0,        # window order, re-shuffled per epoch
      worker_count=0,        # grain worker processes (0: in the main process)
      prefetch=2,            # batches prefetched ahead of the train step
      synthetic_vocab=64,    # synthetic corpus: vocabulary size
      synthetic_states=16,   # synthetic corpus: hidden states / context size
      synthetic_tokens=2_000_000,  # synthetic corpus: total tokens generated
      synthetic_seed=0,      # synthetic corpus: seed of the Markov chain and its samples
      # markov: one first-order chain (data/synthetic.py; reads synthetic_states); topics: Zipf
      # topics, each a sparse order-n chain, with an exact Bayes floor (data/topics.py; reads
      # the fields below, and its last id, synthetic_vocab - 1, ends every document); teacher:
      # one dense order-n chain whose next-token law is a random MLP of the context, with an
      # exact Bayes floor (data/teacher.py; reads synthetic_order, synthetic_document_tokens
      # and synthetic_teacher_*).
      synthetic_kind="markov",
      synthetic_topics=32,   # topics: number of topics K
      synthetic_topic_zipf=1.0,  # topics: P(topic k) ~ 1 / k**exponent, k = 1..K
      synthetic_order=2,     # topics: context tokens each topic's chain reads
      synthetic_successors=3,  # topics: next tokens per context, at most (<= synthetic_vocab - 1)
      synthetic_document_tokens=256.0,  # topics, teacher: mean (geometric) document length
      synthetic_teacher_width=256,  # teacher: hidden units of the MLP
      synthetic_teacher_decay=1.0,  # teacher: hidden unit k's output scale ~ 1 / k**decay
      synthetic_teacher_scale=3.0,  # teacher: logit scale (higher: a lower floor)
      synthetic_teacher_embed=16,  # teacher: embedding dimensions per content id
      synthetic_teacher_embed_decay=0.0,  # teacher: embedding dimension j's scale ~ 1 / j**decay
  ))

  # Training budget, in tokens. One token = one position predicted.
  config.train = ml_collections.ConfigDict(dict(
      batch_size=16,               # global batch, in sequences of seq_len tokens
      grad_accum_steps=1,          # micro-batches per optimizer step
      train_tokens=1_048_576,      # total tokens trained on
      warmup_tokens=65_536,
      eval_every_tokens=262_144,
      eval_tokens=65_536,          # fixed held-out tokens per evaluation (same for every run)
      ckpt_every_tokens=524_288,
      keep_checkpoints=2,
      # WSD trunks and branches (training/branch.py). A trunk lists the tokens after which it
      # keeps a checkpoint for branches; a branch names its trunk's workdir (relative paths
      # from its own workdir) and starts from the trunk's checkpoint where its decay begins.
      branch_point_tokens=(),
      branch_from="",
      log_every_steps=50,
      # Optimizer steps per call of the compiled train step (a scan over a stack of batches;
      # training/step.py). Above 1 it saves per-step dispatch for small models; evaluations,
      # checkpoints and branch points still fall on their exact steps.
      steps_per_call=1,
  ))

  config.optimizer = ml_collections.ConfigDict(dict(
      peak_learning_rate=3e-3,
      schedule="cosine",           # cosine | constant | wsd
      final_lr_fraction=0.1,       # cosine / wsd: final LR as a fraction of the peak
      decay_fraction=0.2,          # wsd: fraction of the run spent decaying
      decay_shape="linear",        # wsd: linear | 1-sqrt
      b1=0.9,
      b2=0.95,
      eps=1e-8,
      weight_decay=0.1,            # decoupled; not applied to norms or biases
      grad_clip_norm=1.0,
  ))

  # Where the run's scalars also go; not part of the run's identity (schema.UNHASHED_SECTIONS).
  config.logging = ml_collections.ConfigDict(dict(
      wandb="off",             # off | offline | online: Weights & Biases (training/wandb_sink.py)
      wandb_project="scaling-lab",  # the W&B project; a sweep's runs form one group in it
  ))

  # Device mesh: sizes of the (data, fsdp, tensor) axes; -1 takes the remaining devices.
  config.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1))
  # Logical parameter/activation axis -> mesh axis (None: replicated).
  config.logical_axis_rules = (
      ("batch", ("data", "fsdp")),
      ("length", None),
      ("embed", "fsdp"),
      ("vocab", "tensor"),
      ("mlp", "tensor"),
      ("heads", "tensor"),
      ("kv_heads", "tensor"),
      ("head_dim", None),
      ("layers", None),
  )
  return config
