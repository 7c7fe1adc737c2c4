"""The cosine annealing over the whole run that STQ-A's and SNN's optimizers share."""
import tensorflow as tf


def cosine_decay(learning_rate, epochs, steps_per_epoch):
    """`learning_rate` annealed to 0 along a half cosine over `epochs` x `steps_per_epoch` steps."""
    return tf.keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps_per_epoch)
