# The full-text vector becomes a stored generated column: Postgres computes it as each chunk
# is inserted, instead of an UPDATE of every new chunk (a second row version, and a second
# HNSW insertion each). A generated column cannot be altered into: removed and added again.

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('knowledge', '0001_initial'),
    ]

    operations = [
        migrations.RemoveIndex(model_name='chunk', name='knowledge_chunk_search'),
        migrations.RemoveField(model_name='chunk', name='search'),
        migrations.AddField(
            model_name='chunk',
            name='search',
            field=models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.CombinedSearchVector(django.contrib.postgres.search.SearchVector('heading', config='english', weight='A'), '||', django.contrib.postgres.search.SearchVector('text', config='english', weight='B'), django.contrib.postgres.search.SearchConfig('english')), output_field=django.contrib.postgres.search.SearchVectorField()),
        ),
        migrations.AddIndex(
            model_name='chunk',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search'], name='knowledge_chunk_search'),
        ),
    ]
