"""The MobileViT model: variants and stride plans as data, the Keras builder."""
