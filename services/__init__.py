"""The seven services of the fleet; none imports another."""
