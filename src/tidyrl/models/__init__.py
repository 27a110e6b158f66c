"""Environment models: learned s' = EM(s, a) (and r), shared by curiosity, model-based learners
and imagination (`tidyrl.models.env_model`)."""
