import click

@click.group()
def main():
    """ClusterCat."""

if __name__ == "__main__":
    main()
