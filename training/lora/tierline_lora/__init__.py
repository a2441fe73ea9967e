"""Tierline LoRA training: the parts that need neither transformers nor peft (tested with pytest)."""
